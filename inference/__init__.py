"""The model service: embedding and generative models behind one thread pool.

`service.py` schedules work (loading, batching, streaming) without blocking the event loop;
`sources.py` finds where each model comes from (no torch); `loading.py` loads models with
transformers and runs them, and `batching.py` steps generations together: both import torch, so
the service imports them on a model thread when a model first loads; `remote.py` streams
generation from an OpenAI-compatible model server instead (GENERATION_BACKEND=openai).
"""

from .remote import RemoteGenerationConfig, RemoteGenerator
from .service import InferenceConfig, ModelService, ModelUnavailable

__all__ = ["InferenceConfig", "ModelService", "ModelUnavailable", "RemoteGenerationConfig", "RemoteGenerator"]
