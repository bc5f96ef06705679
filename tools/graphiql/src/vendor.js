// The GraphiQL bundle served by the server (app/static/graphiql/vendor/graphiql.js): React,
// GraphiQL 5 with the explorer plugin, the graphql-ws client, and Monaco's workers loaded from
// files next to this one (same origin: no CDN, and `worker-src 'self'` is enough).
// Our page code (app/static/graphiql/page.js) imports what it needs from here.
import React from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL, HISTORY_PLUGIN } from "graphiql";
import { explorerPlugin } from "@graphiql/plugin-explorer";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { createClient } from "graphql-ws";

import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const file = label === "json" ? "json.worker.js" : label === "graphql" ? "graphql.worker.js" : "editor.worker.js";
    return new Worker(new URL(`./${file}`, import.meta.url), { name: label });
  },
};

export { React, createRoot, GraphiQL, HISTORY_PLUGIN, explorerPlugin, createGraphiQLFetcher, createClient };
