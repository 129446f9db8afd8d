import { useCallback, useEffect, useState } from "react";
import type { Ack } from "../hooks/useAvatar";
import { ApiError, deleteVoiceProfile, listVoiceProfiles } from "../lib/api";
import { loadPrefs, savePrefs } from "../lib/storage";
import type { TtsMode, VoiceProfile } from "../lib/types";
import { ModeSelector } from "./ModeSelector";
import { VoiceList } from "./VoiceList";
import { VoiceRecorder } from "./VoiceRecorder";
import { VoiceUpload, type Candidate } from "./VoiceUpload";

interface Props {
  available: boolean;
  connected: boolean;
  setMode: (mode: TtsMode, voiceProfileId: string | null) => Promise<Ack>;
}

/** The session's voice and tier, and the user's voice samples. */
export function VoicePanel({ available, connected, setMode }: Props) {
  const prefs = loadPrefs();
  const [mode, setModeState] = useState<TtsMode>(prefs.mode ?? "fast");
  const [voiceId, setVoiceId] = useState<string | null>(prefs.voiceProfileId ?? null);
  const [modeError, setModeError] = useState<string | null>(null);
  const [profiles, setProfiles] = useState<VoiceProfile[]>([]);
  const [listError, setListError] = useState<string | null>(null);
  const [candidate, setCandidate] = useState<Candidate | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    if (!available) return;
    try {
      setProfiles(await listVoiceProfiles());
      setListError(null);
    } catch (e) {
      setListError(e instanceof ApiError ? e.message : "無法載入聲音清單");
    }
  }, [available]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const apply = async (nextMode: TtsMode, nextVoice: string | null): Promise<boolean> => {
    const ack = await setMode(nextMode, nextVoice);
    if (!ack.ok) {
      setModeError(`無法切換：${ack.error?.message ?? "伺服器拒絕"}`);
      return false;
    }
    setModeError(null);
    setModeState(nextMode);
    setVoiceId(nextVoice);
    savePrefs({ ...loadPrefs(), mode: nextMode, voiceProfileId: nextVoice });
    return true;
  };

  // A new or resumed connection gets the saved choice again.
  useEffect(() => {
    if (connected && (mode !== "fast" || voiceId)) void apply(mode, voiceId);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connected]);

  const onDelete = async (id: string) => {
    await deleteVoiceProfile(id);
    if (voiceId === id) await apply(mode, null);
    await refresh();
  };

  return (
    <div className="panel" data-testid="voice-panel">
      <ModeSelector mode={mode} disabled={!connected} error={modeError} onChange={(m) => void apply(m, voiceId)} />
      <h3 className="panel__heading">我的聲音</h3>
      {!available ? (
        <p className="notice" data-testid="voice-unavailable">
          此伺服器尚未提供聲音複製功能（/api/v1/voice-profiles）。回答會使用預設聲音。
        </p>
      ) : (
        <>
          {listError && <p className="field-error" role="alert">{listError}</p>}
          <VoiceList profiles={profiles} selectedId={voiceId} onSelect={(id) => void apply(mode, id)} onDelete={onDelete} />
          <h3 className="panel__heading">新增聲音</h3>
          <VoiceRecorder onRecorded={setCandidate} />
          <VoiceUpload
            candidate={candidate}
            onCandidate={setCandidate}
            onUploaded={(profile) => {
              setNotice(profile ? `已新增「${profile.name}」` : "已上傳");
              void refresh();
            }}
          />
          {notice && (
            <p className="success" role="status" data-testid="voice-notice">
              {notice}
            </p>
          )}
        </>
      )}
    </div>
  );
}
