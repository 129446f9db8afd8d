/** Checks on a voice sample before upload; the server checks again (speech length after
 * trimming silence, clipping) and its message is shown the same way. */

export const MIN_SECONDS = 5;
export const MAX_SECONDS = 30;
export const MAX_BYTES = 20 * 1024 * 1024;
export const ACCEPTED_EXTENSIONS = ["wav", "mp3", "m4a", "ogg", "webm", "flac"];
export const ACCEPT_ATTRIBUTE = ".wav,.mp3,.m4a,.ogg,.webm,.flac,audio/*";

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot >= 0 ? name.slice(dot + 1).toLowerCase() : "";
}

/** Problems with the file itself (type, size); null when fine. */
export function fileProblem(file: { name: string; size: number; type: string }): string | null {
  const ext = extensionOf(file.name);
  if (!ACCEPTED_EXTENSIONS.includes(ext) && !file.type.startsWith("audio/")) {
    return `不支援的檔案格式「${ext || file.type || "未知"}」：請使用 ${ACCEPTED_EXTENSIONS.join("、")}。`;
  }
  if (file.size === 0) return "檔案是空的。";
  if (file.size > MAX_BYTES) return `檔案過大：${(file.size / 1024 / 1024).toFixed(1)} MB，上限 20 MB。`;
  return null;
}

export function durationProblem(seconds: number | undefined): string | null {
  if (seconds === undefined) return null; // undecodable here: the server decides
  if (seconds < MIN_SECONDS) return `聲音太短：${seconds.toFixed(1)} 秒，至少需要 ${MIN_SECONDS} 秒。`;
  if (seconds > MAX_SECONDS) return `聲音太長：${seconds.toFixed(1)} 秒，最多 ${MAX_SECONDS} 秒。`;
  return null;
}

export function nameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return "請輸入聲音名稱。";
  if (trimmed.length > 64) return "名稱最多 64 字。";
  return null;
}

/** The sample's length in seconds, decoded by the browser; undefined if it cannot. */
export async function measureSeconds(blob: Blob): Promise<number | undefined> {
  try {
    const Ctx = window.OfflineAudioContext;
    if (!Ctx) return undefined;
    const context = new Ctx(1, 1, 44100);
    const buffer = await context.decodeAudioData(await blob.arrayBuffer());
    return buffer.duration;
  } catch {
    return undefined;
  }
}
