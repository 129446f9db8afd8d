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

/** The owner credential (`POST /api/v1/owners`): whoever holds it owns this browser's
 * sessions and voices. Kept until the server stops accepting it. */
const OWNER = "avatar.owner";

export interface StoredOwner {
  owner_id: string;
  owner_token: string;
}

export function loadOwner(): StoredOwner | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(OWNER) ?? "null") as Partial<StoredOwner> | null;
    return parsed && typeof parsed.owner_id === "string" && typeof parsed.owner_token === "string"
      ? { owner_id: parsed.owner_id, owner_token: parsed.owner_token }
      : null;
  } catch {
    return null;
  }
}

export function saveOwner(owner: StoredOwner): void {
  localStorage.setItem(OWNER, JSON.stringify({ owner_id: owner.owner_id, owner_token: owner.owner_token }));
}

export function forgetOwner(): void {
  localStorage.removeItem(OWNER);
}
