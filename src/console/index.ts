// src/console — the web console: server-rendered pages over the Admin API,
// served by the master (`wharf master --console HOST:PORT`).
//
// Owns: the HTTP(S) server, sessions, the pages and the forms' translation into
// Admin calls.
//
// Invariants:
//   - Every read and every action is an Admin call over gRPC with the logged-in
//     user's own access key: the roles, gates, errors and audit of the CLI. The
//     console offers an action only where the server lists it as accepted (a
//     rule's or a node's `actions`) and shows the server's refusal when it refuses.
//   - With auth on, nothing answers without a session but the login page, the
//     stylesheet and /healthz; the cookie is HttpOnly and SameSite=Strict (Secure
//     over TLS); every POST carries the session's CSRF token.
//   - Pages run no script; every value is HTML-escaped (html.ts).
export { ConsoleServer, type ConsoleOptions } from './ConsoleServer.js';
