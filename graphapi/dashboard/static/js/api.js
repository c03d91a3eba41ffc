// The GraphQL API, over fetch (queries, mutations) and a graphql-transport-ws
// WebSocket (the conversionRecorded subscription). The API key lives in
// localStorage and goes with every request.

const KEY = "graphapi.apiKey";

export const apiKey = {
  get: () => localStorage.getItem(KEY),
  set: (key) => localStorage.setItem(KEY, key.trim()),
  clear: () => localStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(message, { status = 0, unauthorized = false, errors = [] } = {}) {
    super(message);
    this.status = status;
    this.unauthorized = unauthorized;
    this.errors = errors; // the response's GraphQL errors, as sent
  }
}

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${apiKey.get() ?? ""}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`The server did not answer (${error.message}). Is graphapi running?`);
  }
  if (response.status === 401) {
    throw new ApiError("The API key was refused. Enter a valid key.", { status: 401, unauthorized: true });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} without JSON.`, {
      status: response.status,
    });
  }
  if (body.errors?.length) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "), { status: response.status, errors: body.errors });
  }
  return body.data;
}

// One subscription, kept open across reconnects. `onEvent(data)` gets each
// `next` payload's data; `onState(state)` hears "connecting", "live",
// "offline" or "refused" (the key was not accepted), so the page can say so and
// reload what it may have missed when it is live again.
export function subscribe(query, variables, { onEvent, onState }) {
  let socket;
  let stopped = false;
  let retry = 500;
  let timer;

  const connect = () => {
    onState("connecting");
    const url = new URL("graphql", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${apiKey.get()}` } }));
    };
    socket.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === "connection_ack") {
        retry = 500;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
        onState("live");
      } else if (msg.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next" && msg.id === "1") {
        if (msg.payload.data) onEvent(msg.payload.data);
      } else if (msg.type === "error") {
        onState("offline", msg.payload.map((e) => e.message).join("; "));
      }
    };
    socket.onclose = (event) => {
      if (stopped) return;
      if (event.code === 4403 || event.code === 4401) {
        onState("refused");
        return;
      }
      onState("offline");
      timer = setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  };
}
