// CodePatternMaster's GraphiQL page (served by app/graphiql.py). Everything it loads comes from
// this server: the vendored build beside it (vendor/, tools/graphiql/build.sh) and this file.
import {
  React,
  createRoot,
  GraphiQL,
  HISTORY_PLUGIN,
  explorerPlugin,
  createGraphiQLFetcher,
  createClient,
} from "./vendor/graphiql.js";

const config = JSON.parse(document.getElementById("graphiql-config").textContent);
const endpoint = new URL(config.endpoint, window.location.href);
const socketUrl = new URL(endpoint);
socketUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

// The headers typed in the Headers tab go with every HTTP request, and, for subscriptions, in the
// WebSocket's connection_init payload (graphql-transport-ws), which is where the server reads the
// Authorization of a socket. One socket per set of headers: changing the token opens a new one.
const fetchers = new Map();

function fetcherFor(headers) {
  const key = JSON.stringify(headers || {});
  let fetcher = fetchers.get(key);
  if (!fetcher) {
    for (const old of fetchers.values()) old.wsClient.dispose();
    fetchers.clear();
    const wsClient = createClient({ url: socketUrl.href, connectionParams: { ...(headers || {}) }, lazy: true });
    fetcher = { wsClient, run: createGraphiQLFetcher({ url: endpoint.href, wsClient }) };
    fetchers.set(key, fetcher);
  }
  return fetcher.run;
}

function fetcher(params, options) {
  return fetcherFor(options && options.headers)(params, options);
}

// Fill in the id of the pattern the sample code solves (ids depend on the database).
async function defaultVariables() {
  const variables = JSON.parse(config.defaultVariables);
  try {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: "query PatternId($slug: String) { pattern(slug: $slug) { id } }",
                             variables: { slug: config.defaultPatternSlug } }),
      signal: AbortSignal.timeout(3000),
    });
    const id = (await response.json())?.data?.pattern?.id;
    if (id) variables.patternId = id;
  } catch (error) {
    console.warn("GraphiQL: could not look up the sample pattern's id", error);
  }
  return JSON.stringify(variables, null, 2);
}

const explorer = explorerPlugin();

function Page({ variables }) {
  return React.createElement(
    GraphiQL,
    {
      fetcher,
      plugins: [HISTORY_PLUGIN, explorer],
      defaultQuery: config.defaultDocument,
      initialVariables: window.localStorage.getItem("graphiql:variables") ? undefined : variables,
      defaultHeaders: "{}",
      shouldPersistHeaders: true,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: true,
    },
    React.createElement(GraphiQL.Logo, null, "CodePatternMaster"),
  );
}

const root = createRoot(document.getElementById("graphiql"));
defaultVariables().then((variables) => root.render(React.createElement(Page, { variables })));
