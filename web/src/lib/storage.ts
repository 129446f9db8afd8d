/** The session kept across reloads, so a reload or a dropped connection resumes it. */
const KEY = "avatar.session";

export interface StoredSession {
  session_id: string;
  token: string;
}

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<StoredSession>;
    return typeof parsed.session_id === "string" && typeof parsed.token === "string"
      ? { session_id: parsed.session_id, token: parsed.token }
      : null;
  } catch {
    return null;
  }
}

export function saveSession(session: StoredSession): void {
  localStorage.setItem(KEY, JSON.stringify({ session_id: session.session_id, token: session.token }));
}

export function forgetSession(): void {
  localStorage.removeItem(KEY);
}

const PREFS = "avatar.prefs";

export interface Prefs {
  mode?: "fast" | "hq" | "both";
  voiceProfileId?: string | null;
  micMode?: "ptt" | "handsfree";
}

export function loadPrefs(): Prefs {
  try {
    return (JSON.parse(localStorage.getItem(PREFS) ?? "{}") as Prefs) ?? {};
  } catch {
    return {};
  }
}

export function savePrefs(prefs: Prefs): void {
  localStorage.setItem(PREFS, JSON.stringify(prefs));
}
