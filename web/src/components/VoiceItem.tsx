import { useRef, useState } from "react";
import { ApiError, previewVoiceProfile } from "../lib/api";
import type { VoiceProfile } from "../lib/types";

interface Props {
  profile: VoiceProfile;
  selected: boolean;
  /** why the page stopped waiting for this voice's analysis */
  note?: string;
  onSelect: () => void;
  onDelete: () => Promise<void>;
}

/** One voice: selectable, playable and previewable once the server's analysis made it ready. */
export function VoiceItem({ profile, selected, note, onSelect, onDelete }: Props) {
  const ready = profile.status === "ready";
  const audio = useRef<HTMLAudioElement>(null);
  const [previewUrl, setPreviewUrl] = useState<string | null>(null);
  const [busy, setBusy] = useState<"preview" | "delete" | null>(null);
  const [error, setError] = useState<string | null>(null);

  const play = (url: string) => {
    if (!audio.current) return;
    audio.current.src = url;
    void audio.current.play().catch(() => setError("無法播放"));
  };

  const preview = async () => {
    setBusy("preview");
    setError(null);
    try {
      const url = previewUrl ?? (await previewVoiceProfile(profile.id));
      setPreviewUrl(url);
      play(url);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "預覽失敗");
    } finally {
      setBusy(null);
    }
  };

  const remove = async () => {
    if (!window.confirm(`確定要刪除「${profile.name}」？`)) return;
    setBusy("delete");
    try {
      await onDelete();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "刪除失敗");
      setBusy(null);
    }
  };

  return (
    <li className={`voice ${selected ? "voice--on" : ""}`} data-testid="voice-item" data-voice-id={profile.id} data-status={profile.status}>
      <label className="voice__choose">
        <input type="radio" name="voice" checked={selected} onChange={onSelect} disabled={!ready} />
        <span className="voice__name">{profile.name}</span>
        {profile.status === "processing" && (
          <span className="badge badge--thinking" data-testid="voice-status">
            處理中
          </span>
        )}
        {profile.status === "failed" && (
          <span className="badge badge--error" data-testid="voice-status">
            分析失敗
          </span>
        )}
        {profile.durationSec !== undefined && <span className="muted small">{profile.durationSec.toFixed(1)} 秒</span>}
      </label>
      {profile.status === "failed" && (
        <p className="field-error" role="alert" data-testid="voice-failed" data-code={profile.error?.code}>
          {profile.error?.message ?? "聲音分析失敗，請刪除後再上傳一次。"}
        </p>
      )}
      {note && profile.status === "processing" && (
        <p className="field-error" role="alert" data-testid="voice-timeout">
          {note}
        </p>
      )}
      <div className="voice__actions">
        {ready && profile.url && (
          <button type="button" className="button button--small" onClick={() => play(profile.url!)} aria-label={`播放原始樣本：${profile.name}`}>
            ▶ 樣本
          </button>
        )}
        <button type="button" className="button button--small" onClick={() => void preview()} disabled={busy !== null || !ready} aria-label={`試聽複製聲音：${profile.name}`}>
          {busy === "preview" ? "合成中…" : "試聽"}
        </button>
        <button type="button" className="button button--small button--danger" onClick={() => void remove()} disabled={busy !== null} aria-label={`刪除：${profile.name}`}>
          刪除
        </button>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <audio ref={audio} className="visually-hidden" />
    </li>
  );
}
