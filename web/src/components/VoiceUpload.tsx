import { useState, type DragEvent } from "react";
import { ApiError, uploadVoiceProfile } from "../lib/api";
import { ACCEPT_ATTRIBUTE, durationProblem, fileProblem, measureSeconds, nameProblem } from "../lib/voiceValidation";
import type { VoiceProfile } from "../lib/types";

export interface Candidate {
  blob: Blob;
  filename: string;
  seconds?: number;
  source: "file" | "recording";
  transcript?: string;
}

interface Props {
  candidate: Candidate | null;
  onCandidate: (candidate: Candidate | null) => void;
  onUploaded: (profile: VoiceProfile | null) => void;
}

/** File picker and drop zone, name and transcript, inline errors, upload. */
export function VoiceUpload({ candidate, onCandidate, onUploaded }: Props) {
  const [name, setName] = useState("");
  const [transcript, setTranscript] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);

  const take = async (file: File | undefined) => {
    if (!file) return;
    const problem = fileProblem(file);
    if (problem) {
      setError(problem);
      onCandidate(null);
      return;
    }
    const seconds = await measureSeconds(file);
    setError(durationProblem(seconds));
    onCandidate({ blob: file, filename: file.name, seconds, source: "file" });
    if (!name) setName(file.name.replace(/\.[^.]+$/, ""));
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void take(event.dataTransfer.files[0]);
  };

  const submit = async () => {
    const problem = nameProblem(name) ?? (candidate ? durationProblem(candidate.seconds) : "請先選擇或錄製一段聲音。");
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const profile = await uploadVoiceProfile(candidate!.blob, name.trim(), transcript || candidate!.transcript || "", candidate!.filename);
      onCandidate(null);
      setName("");
      setTranscript("");
      onUploaded(profile);
    } catch (e) {
      setError(e instanceof ApiError ? `上傳失敗：${e.message}` : "上傳失敗，請再試一次。");
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="upload">
      <div
        className={`dropzone ${dragging ? "dropzone--over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>把聲音檔拖曳到這裡，或</p>
        <label className="button button--small">
          選擇檔案
          <input
            type="file"
            accept={ACCEPT_ATTRIBUTE}
            className="visually-hidden"
            data-testid="voice-file"
            onChange={(e) => {
              void take(e.target.files?.[0]);
              e.target.value = "";
            }}
          />
        </label>
        <p className="muted small">5–30 秒、清楚的單人說話；wav、mp3、m4a、ogg、webm、flac，20 MB 以內。</p>
      </div>
      {candidate && (
        <p className="candidate" data-testid="voice-candidate">
          已選擇：{candidate.filename}
          {candidate.seconds !== undefined && `（${candidate.seconds.toFixed(1)} 秒）`}
        </p>
      )}
      <label className="field">
        <span>聲音名稱</span>
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={80} data-testid="voice-name" />
      </label>
      <label className="field">
        <span>樣本逐字稿（選填，可提高高品質模式的準確度）</span>
        <textarea rows={2} value={transcript} onChange={(e) => setTranscript(e.target.value)} placeholder={candidate?.transcript ?? ""} />
      </label>
      {error && (
        <p className="field-error" role="alert" data-testid="voice-error">
          {error}
        </p>
      )}
      <button type="button" className="button button--primary" onClick={() => void submit()} disabled={busy} data-testid="voice-submit">
        {busy ? "上傳中…" : "上傳聲音"}
      </button>
    </div>
  );
}
