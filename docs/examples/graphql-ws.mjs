// graphql-ws alone: fetch for the query and the mutation, the socket for the subscription.
import { createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 only: browsers and Node 22+ have a global WebSocket
import { URL, WS_URL, headers, CATALOG, SUBMIT, UPDATES, CODE } from "./common.mjs";

async function post(query, variables) {
  const response = await fetch(URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const { data, errors } = await response.json();
  if (errors) throw new Error(errors.map((e) => `${e.extensions.code}: ${e.message}`).join("; "));
  return data;
}

const catalog = await post(CATALOG);
console.log("catalog:", catalog.patterns.totalCount, "patterns");
const { submitAttempt } = await post(SUBMIT, { patternId: catalog.pattern.id, code: CODE });
console.log("verdict:", submitAttempt.attempt.verdict);

// The token goes in connection_init's payload (graphql-transport-ws).
const socket = createClient({ url: WS_URL, connectionParams: headers, webSocketImpl: WebSocket });
const updates = socket.iterate({ query: UPDATES, variables: { analysisId: submitAttempt.analysis.id } });
for await (const { data, errors } of updates) { // ends after DONE or FAILED
  if (errors) throw new Error(JSON.stringify(errors));
  const update = data.analysisUpdates;
  console.log("event:", update.status, update.stage, JSON.stringify(update.textDelta ?? ""));
}
await socket.dispose();
