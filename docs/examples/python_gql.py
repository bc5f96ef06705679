"""A query, a submission and its live analysis from Python, with gql (docs/clients.md).

    pip install "gql[aiohttp,websockets]"
    CODEPATTERN_TOKEN=$(codepattern token --raw) python docs/examples/python_gql.py
"""

import asyncio
import os

from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

URL = os.environ.get("CODEPATTERN_URL", "http://127.0.0.1:8000/graphql")
TOKEN = os.environ["CODEPATTERN_TOKEN"]  # Supabase Auth's access_token, or `codepattern token --raw`

CATALOG = """query Catalog {
  patterns(first: 3) { totalCount edges { node { id slug name difficulty } } }
  pattern(slug: "right-triangle") { id name preview }
}"""
SUBMIT = """mutation SubmitSolution($patternId: ID!, $code: String!) {
  submitAttempt(input: {patternId: $patternId, code: $code}) {
    attempt { verdict score mismatches { row expected actual } }
    analysis { id status }
  }
}"""
UPDATES = """subscription AnalysisUpdates($analysisId: ID!) {
  analysisUpdates(analysisId: $analysisId) { status stage textDelta }
}"""
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


async def main() -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with Client(transport=AIOHTTPTransport(url=URL, headers=auth)) as http:
        catalog = await http.execute(GraphQLRequest(CATALOG))
        print("catalog:", catalog["patterns"]["totalCount"], "patterns")
        pattern = catalog["pattern"]
        variables = {"patternId": pattern["id"], "code": CODE}
        submitted = (await http.execute(GraphQLRequest(SUBMIT, variable_values=variables)))["submitAttempt"]
    print("verdict:", submitted["attempt"]["verdict"])

    # Subscriptions: graphql-transport-ws, the token in connection_init's payload.
    socket = WebsocketsTransport(url=URL.replace("http", "ws", 1), init_payload=auth,
                                 subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])
    async with Client(transport=socket) as live:
        request = GraphQLRequest(UPDATES, variable_values={"analysisId": submitted["analysis"]["id"]})
        async for event in live.subscribe(request):  # ends after DONE or FAILED
            update = event["analysisUpdates"]
            print("event:", update["status"], update["stage"], repr(update["textDelta"] or ""))


if __name__ == "__main__":
    asyncio.run(main())
