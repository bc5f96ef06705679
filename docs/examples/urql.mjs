// urql: fetchExchange for queries and mutations, subscriptionExchange over graphql-ws.
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 only: browsers and Node 22+ have a global WebSocket
import { URL, WS_URL, headers, CATALOG, SUBMIT, UPDATES, CODE } from "./common.mjs";

const socket = createClient({ url: WS_URL, connectionParams: headers, webSocketImpl: WebSocket });
const client = new Client({
  url: URL,
  fetchOptions: () => ({ headers }),
  exchanges: [
    cacheExchange,
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: socket.subscribe({ ...request, query: request.query ?? "" }, sink) }),
      }),
    }),
  ],
});

const catalog = await client.query(CATALOG, {}).toPromise();
if (catalog.error) throw catalog.error;
console.log("catalog:", catalog.data.patterns.totalCount, "patterns");
const submitted = await client.mutation(SUBMIT, { patternId: catalog.data.pattern.id, code: CODE }).toPromise();
if (submitted.error) throw submitted.error;
console.log("verdict:", submitted.data.submitAttempt.attempt.verdict);

await new Promise((resolve, reject) => {
  const { unsubscribe } = client
    .subscription(UPDATES, { analysisId: submitted.data.submitAttempt.analysis.id })
    .subscribe((result) => {
      if (result.error) return reject(result.error);
      const update = result.data.analysisUpdates;
      console.log("event:", update.status, update.stage, JSON.stringify(update.textDelta ?? ""));
      if (update.status === "DONE" || update.status === "FAILED") {
        setTimeout(() => unsubscribe(), 0);
        resolve();
      }
    });
});
await socket.dispose();
