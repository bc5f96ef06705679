// Apollo Client 4: HTTP for queries and mutations, graphql-ws for subscriptions (split by operation).
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 only: browsers and Node 22+ have a global WebSocket
import { URL, WS_URL, headers, CATALOG, SUBMIT, UPDATES, CODE } from "./common.mjs";

const socket = createClient({ url: WS_URL, connectionParams: headers, webSocketImpl: WebSocket });
const link = split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  },
  new GraphQLWsLink(socket),
  new HttpLink({ uri: URL, headers }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const { data: catalog } = await client.query({ query: gql(CATALOG) });
console.log("catalog:", catalog.patterns.totalCount, "patterns");
const { data: submitted } = await client.mutate({
  mutation: gql(SUBMIT),
  variables: { patternId: catalog.pattern.id, code: CODE },
});
console.log("verdict:", submitted.submitAttempt.attempt.verdict);

await new Promise((resolve, reject) => {
  client
    .subscribe({ query: gql(UPDATES), variables: { analysisId: submitted.submitAttempt.analysis.id } })
    .subscribe({
      next: ({ data }) => {
        const update = data.analysisUpdates;
        console.log("event:", update.status, update.stage, JSON.stringify(update.textDelta ?? ""));
      },
      error: reject,
      complete: resolve, // after DONE or FAILED
    });
});
await socket.dispose();
