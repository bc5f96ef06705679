// Shared by the JavaScript examples: where the API is, who is asking, and the three operations.
export const URL = process.env.CODEPATTERN_URL ?? "http://127.0.0.1:8000/graphql";
export const WS_URL = URL.replace(/^http/, "ws");
export const headers = { Authorization: `Bearer ${process.env.CODEPATTERN_TOKEN}` };

export const CATALOG = `query Catalog {
  patterns(first: 3) { totalCount edges { node { id slug name difficulty } } }
  pattern(slug: "right-triangle") { id name preview }
}`;
export const SUBMIT = `mutation SubmitSolution($patternId: ID!, $code: String!) {
  submitAttempt(input: {patternId: $patternId, code: $code}) {
    attempt { verdict score mismatches { row expected actual } }
    analysis { id status }
  }
}`;
export const UPDATES = `subscription AnalysisUpdates($analysisId: ID!) {
  analysisUpdates(analysisId: $analysisId) { status stage textDelta }
}`;
export const CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n";
