/** REST calls to the AVATAR API (same origin), each with this browser's owner credential
 * (`Authorization: Bearer`, obtained once and kept in localStorage). Errors become
 * `ApiError` with the server's message, so the page can show it inline. */
import { forgetOwner, loadOwner, saveOwner, type StoredOwner } from "./storage";
import type { VoiceProfile, VoiceStatus } from "./types";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** FastAPI answers `{detail: string | [{msg, loc}] | {code, message}}`; pull out the text. */
export function errorMessage(body: unknown, fallback: string): string {
  if (!body || typeof body !== "object") return fallback;
  const b = body as Record<string, unknown>;
  const detail = b.detail ?? b.error ?? b.message;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (d && typeof d === "object" ? String((d as Record<string, unknown>).msg ?? "") : String(d)))
      .filter(Boolean)
      .join("；") || fallback;
  }
  if (detail && typeof detail === "object") {
    const d = detail as Record<string, unknown>;
    if (typeof d.message === "string") return d.message;
  }
  return fallback;
}

async function failure(response: Response): Promise<ApiError> {
  const type = response.headers.get("content-type") ?? "";
  const body: unknown = type.includes("json") ? await response.json().catch(() => null) : null;
  return new ApiError(errorMessage(body, `HTTP ${response.status}`), response.status);
}

let ownerRequest: Promise<StoredOwner> | null = null;

/** This browser's owner credential: the stored one, or a new one from the server (asked
 * for once, however many requests wait for it). */
export function ensureOwner(): Promise<StoredOwner> {
  const stored = loadOwner();
  if (stored) return Promise.resolve(stored);
  ownerRequest ??= (async () => {
    const response = await fetch("/api/v1/owners", { method: "POST" });
    if (!response.ok) throw await failure(response);
    const body = (await response.json()) as Partial<StoredOwner>;
    if (typeof body.owner_id !== "string" || typeof body.owner_token !== "string") {
      throw new ApiError("伺服器沒有給出擁有者憑證（no owner credential）", 500);
    }
    const owner = { owner_id: body.owner_id, owner_token: body.owner_token };
    saveOwner(owner);
    return owner;
  })().finally(() => {
    ownerRequest = null;
  });
  return ownerRequest;
}

/** `fetch` with the owner's credential. A 401 means the server no longer knows it (its
 * secret key changed): the page starts over as a new owner, once. */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt += 1) {
    const owner = await ensureOwner();
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${owner.owner_token}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status !== 401 || attempt > 0) return response;
    if (loadOwner()?.owner_token === owner.owner_token) forgetOwner();
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await authorizedFetch(path, init);
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("content-type") ?? "";
  return (type.includes("json") ? await response.json().catch(() => null) : null) as T;
}

export function createSession(): Promise<{ session_id: string; token: string }> {
  return request("/api/v1/sessions", { method: "POST" });
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export function toVoiceProfile(raw: unknown): VoiceProfile | null {
  if (!raw || typeof raw !== "object") return null;
  const r = raw as Record<string, unknown>;
  const id = str(r.voice_profile_id) ?? str(r.profile_id) ?? str(r.id);
  if (!id) return null;
  const durationMs = num(r.duration_ms);
  const e = r.error && typeof r.error === "object" ? (r.error as Record<string, unknown>) : null;
  return {
    id,
    name: str(r.name) ?? str(r.profile_name) ?? "未命名",
    // A server that does not say is one whose profiles are ready when listed.
    status: r.status === "processing" || r.status === "failed" ? (r.status as VoiceStatus) : "ready",
    error: e ? { code: str(e.code) ?? "VOICE_FAILED", message: str(e.message) ?? "聲音分析失敗" } : undefined,
    url: str(r.url) ?? str(r.playback_url) ?? str(r.audio_url) ?? str(r.original_url),
    durationSec: num(r.duration_sec) ?? num(r.duration) ?? (durationMs !== undefined ? durationMs / 1000 : undefined),
    transcript: str(r.transcript) ?? str(r.reference_text),
    createdAt: str(r.created_at),
  };
}

export async function listVoiceProfiles(): Promise<VoiceProfile[]> {
  const body = await request<unknown>("/api/v1/voice-profiles");
  const items = Array.isArray(body)
    ? body
    : ((body as Record<string, unknown>)?.items ?? (body as Record<string, unknown>)?.profiles ?? []);
  return (Array.isArray(items) ? items : []).map(toVoiceProfile).filter((p): p is VoiceProfile => p !== null);
}

export async function getVoiceProfile(id: string): Promise<VoiceProfile | null> {
  return toVoiceProfile(await request<unknown>(`/api/v1/voice-profiles/${encodeURIComponent(id)}`));
}

export const ANALYSIS_POLL_MS = 500;
export const ANALYSIS_TIMEOUT_MS = 60000;

/** Polls an uploaded voice until the server's analysis ends: the profile, `ready` or
 * `failed`; throws an `ApiError` when it takes longer than `timeoutMs`. */
export async function waitForAnalysis(
  id: string,
  { pollMs = ANALYSIS_POLL_MS, timeoutMs = ANALYSIS_TIMEOUT_MS } = {},
): Promise<VoiceProfile> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const profile = await getVoiceProfile(id);
    if (!profile) throw new ApiError("找不到此聲音（voice profile not found）", 404);
    if (profile.status !== "processing") return profile;
    if (Date.now() + pollMs > deadline) {
      throw new ApiError(`聲音分析超過 ${Math.round(timeoutMs / 1000)} 秒仍未完成，請稍後重新整理或再上傳一次。`, 504);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function uploadVoiceProfile(file: Blob, name: string, transcript: string, filename?: string): Promise<VoiceProfile | null> {
  const form = new FormData();
  form.append("file", file, filename ?? (file instanceof File ? file.name : "recording.wav"));
  form.append("name", name);
  if (transcript.trim()) form.append("transcript", transcript.trim());
  const body = await request<unknown>("/api/v1/voice-profiles", { method: "POST", body: form });
  return toVoiceProfile(body);
}

export async function deleteVoiceProfile(id: string): Promise<void> {
  await request<unknown>(`/api/v1/voice-profiles/${encodeURIComponent(id)}`, { method: "DELETE" });
}

/** The first playable url in a preview answer: `{url}`, `{fast_url}`, or per tier
 * (`{tiers: {fast: {status, url}, hq: {...}}}`, fast first). `pending` when a tier is still
 * being synthesised, or the failure reason. */
export function previewUrlOf(body: unknown): { url?: string; pending: boolean; reason?: string } {
  if (!body || typeof body !== "object") return { pending: false };
  const b = body as Record<string, unknown>;
  const direct = str(b.url) ?? str(b.fast_url) ?? str(b.hq_url);
  if (direct) return { url: direct, pending: false };
  const tiers = (b.tiers && typeof b.tiers === "object" ? b.tiers : b) as Record<string, unknown>;
  let pending = false;
  let reason: string | undefined;
  for (const name of ["fast", "hq", ...Object.keys(tiers)]) {
    const tier = tiers[name];
    if (!tier || typeof tier !== "object") continue;
    const t = tier as Record<string, unknown>;
    if (str(t.url)) return { url: str(t.url), pending: false };
    if (t.status === "pending") pending = true;
    reason ??= str(t.reason) ?? str(t.error) ?? str(t.message);
  }
  return { pending, reason };
}

/** Asks for a preview of the voice; answers audio bytes or JSON, polled while pending. */
export async function previewVoiceProfile(id: string, waitMs = 60000): Promise<string> {
  const path = `/api/v1/voice-profiles/${encodeURIComponent(id)}/preview`;
  const deadline = Date.now() + waitMs;
  let response = await authorizedFetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  for (;;) {
    if (!response.ok) throw await failure(response);
    const type = response.headers.get("content-type") ?? "";
    if (type.startsWith("audio/")) return URL.createObjectURL(await response.blob());
    const found = previewUrlOf(await response.json());
    if (found.url) return found.url;
    if (!found.pending || Date.now() > deadline) {
      throw new ApiError(found.reason ?? "預覽沒有音訊（no preview audio）", 500);
    }
    await new Promise((r) => setTimeout(r, 1000));
    response = await authorizedFetch(path);
  }
}

export function fetchProsody(transcriptionId: string): Promise<unknown> {
  return request(`/api/v1/prosody/${encodeURIComponent(transcriptionId)}`);
}

export function fetchSessionProsody(sessionId: string): Promise<unknown> {
  return request(`/api/v1/sessions/${encodeURIComponent(sessionId)}/prosody`);
}

export interface StoredTurn {
  turn_id: string;
  turn_number?: number;
  user_input?: string;
  ai_response?: string | null;
  status?: string;
  error_code?: string | null;
  error_message?: string | null;
  latency?: Record<string, number>;
  audio?: { seq: number; url: string; mode?: string; text?: string; duration_sec?: number }[];
  /** spoken turns, once speech input stores them */
  transcription_id?: string | null;
  transcription?: { transcription_id?: string } | null;
}

export function fetchTurns(sessionId: string): Promise<StoredTurn[]> {
  return request(`/api/v1/sessions/${encodeURIComponent(sessionId)}/turns`);
}
