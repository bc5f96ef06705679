"""The model service: embedding and generative models behind one thread pool.

`service.py` schedules work (loading, batching, streaming) without blocking the event loop;
`loading.py` finds and loads models with transformers and runs them; `remote.py` streams
generation from an OpenAI-compatible model server instead (GENERATION_BACKEND=openai).
"""

from .remote import RemoteGenerationConfig, RemoteGenerator
from .service import InferenceConfig, ModelService, ModelUnavailable

__all__ = ["InferenceConfig", "ModelService", "ModelUnavailable", "RemoteGenerationConfig", "RemoteGenerator"]
