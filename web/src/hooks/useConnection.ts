/** The Socket.IO connection: one session kept in localStorage (resumed after a reload or a
 * dropped connection), reconnection with exponential backoff, and a fresh session when the
 * old one is gone. Every server event goes to `onEvent`. */
import { io, type Socket } from "socket.io-client";
import { useCallback, useEffect, useRef, useState } from "react";
import { createSession } from "../lib/api";
import { backoffDelay } from "../lib/backoff";
import { forgetSession, loadSession, saveSession, type StoredSession } from "../lib/storage";
import type { ConnectionState } from "../lib/types";

type Handler = (event: string, data: Record<string, unknown>) => void;

export interface Connection {
  state: ConnectionState;
  session: StoredSession | null;
  socket: Socket | null;
  /** connects again now (the retry button) */
  retry: () => void;
  /** drops this session and starts a new, empty one */
  newSession: () => void;
}

export function useConnection(onEvent: Handler, onConnected?: (session: StoredSession, resumed: boolean) => void): Connection {
  const [state, setState] = useState<ConnectionState>({ kind: "connecting", attempt: 0 });
  const [session, setSession] = useState<StoredSession | null>(null);
  const [socket, setSocket] = useState<Socket | null>(null);
  const handler = useRef(onEvent);
  const connected = useRef(onConnected);
  handler.current = onEvent;
  connected.current = onConnected;
  const generation = useRef(0);

  const start = useCallback((fresh: boolean) => {
    const gen = ++generation.current;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let current: Socket | null = null;
    let everConnected = false;
    const alive = () => gen === generation.current;

    const schedule = (why: ConnectionState | null, delayMs?: number) => {
      if (!alive()) return;
      const inMs = delayMs ?? backoffDelay(attempt);
      attempt += 1;
      setState(why ?? { kind: "reconnecting", attempt, inMs });
      timer = setTimeout(() => void open(), inMs);
    };

    const open = async () => {
      if (!alive()) return;
      let creds = fresh ? null : loadSession();
      fresh = false;
      let reused = creds !== null;
      if (!creds) {
        reused = false;
        try {
          creds = await createSession();
          saveSession(creds);
        } catch {
          schedule(null);
          return;
        }
      }
      if (!alive()) return;
      const resumed = everConnected || reused;
      setSession(creds);
      setState((s) => (s.kind === "reconnecting" ? s : { kind: "connecting", attempt }));
      const sock = io({ transports: ["websocket"], auth: { ...creds }, reconnection: false, timeout: 10000 });
      current = sock;
      sock.onAny((event: string, data: unknown) => {
        if (alive()) handler.current(event, data && typeof data === "object" ? (data as Record<string, unknown>) : { value: data });
      });
      sock.on("connect", () => {
        if (!alive()) return;
        attempt = 0;
        everConnected = true;
        setState({ kind: "connected" });
        setSocket(sock);
        connected.current?.(creds!, resumed);
      });
      sock.on("connect_error", (error: Error & { data?: Record<string, unknown> }) => {
        sock.removeAllListeners();
        sock.close();
        if (!alive()) return;
        setSocket(null);
        const code = error.data?.code;
        if (code === "UNAUTHORIZED" || code === "SESSION_NOT_FOUND") {
          forgetSession(); // the old session is gone: start a new one at once
          schedule({ kind: "connecting", attempt }, 0);
        } else if (code === "BUSY") {
          const retryAfterS = typeof error.data?.retry_after_s === "number" ? error.data.retry_after_s : undefined;
          const message = typeof error.data?.message === "string" ? error.data.message : "系統忙碌中";
          const position = typeof error.data?.position === "number" ? error.data.position : undefined;
          schedule({ kind: "busy", message, retryAfterS, position }, Math.max(1000, (retryAfterS ?? 5) * 1000));
        } else {
          schedule(null);
        }
      });
      sock.on("disconnect", (reason: string) => {
        if (!alive()) return;
        setSocket(null);
        if (reason !== "io client disconnect") schedule(null);
      });
    };

    void open();
    return () => {
      generation.current += 1;
      clearTimeout(timer);
      current?.removeAllListeners();
      current?.close();
    };
  }, []);

  const stopRef = useRef<(() => void) | null>(null);
  useEffect(() => {
    stopRef.current = start(false);
    return () => stopRef.current?.();
  }, [start]);

  const retry = useCallback(() => {
    stopRef.current?.();
    stopRef.current = start(false);
  }, [start]);

  const newSession = useCallback(() => {
    stopRef.current?.();
    forgetSession();
    stopRef.current = start(true);
  }, [start]);

  return { state, session, socket, retry, newSession };
}
