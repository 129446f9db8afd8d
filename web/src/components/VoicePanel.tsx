import { useCallback, useEffect, useRef, useState } from "react";
import type { Ack } from "../hooks/useAvatar";
import { ApiError, deleteVoiceProfile, listVoiceProfiles, waitForAnalysis } from "../lib/api";
import { loadPrefs, savePrefs } from "../lib/storage";
import type { TtsMode, VoiceProfile } from "../lib/types";
import { ModeSelector } from "./ModeSelector";
import { VoiceList } from "./VoiceList";
import { VoiceRecorder } from "./VoiceRecorder";
import { VoiceUpload, type Candidate } from "./VoiceUpload";

interface Props {
  connected: boolean;
  setMode: (mode: TtsMode, voiceProfileId: string | null) => Promise<Ack>;
}

/** The session's voice and tier, and the user's voice samples. An upload is analysed on the
 * server after it answers: the voice shows 處理中 until the analysis made it ready (then it
 * can be chosen) or failed (with the reason). */
export function VoicePanel({ connected, setMode }: Props) {
  const prefs = loadPrefs();
  const [mode, setModeState] = useState<TtsMode>(prefs.mode ?? "fast");
  const [voiceId, setVoiceId] = useState<string | null>(prefs.voiceProfileId ?? null);
  const [modeError, setModeError] = useState<string | null>(null);
  const [profiles, setProfiles] = useState<VoiceProfile[]>([]);
  const [listError, setListError] = useState<string | null>(null);
  const [candidate, setCandidate] = useState<Candidate | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [notes, setNotes] = useState<Record<string, string>>({});
  const polling = useRef(new Set<string>());
  const justUploaded = useRef<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      setProfiles(await listVoiceProfiles());
      setListError(null);
    } catch (e) {
      setListError(e instanceof ApiError ? e.message : "無法載入聲音清單");
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Every voice still being analysed (just uploaded, or found so after a reload) is polled
  // until the server says ready or failed.
  useEffect(() => {
    for (const profile of profiles) {
      if (profile.status !== "processing" || polling.current.has(profile.id) || notes[profile.id]) continue;
      polling.current.add(profile.id);
      waitForAnalysis(profile.id)
        .then((done) => {
          setProfiles((list) => list.map((p) => (p.id === done.id ? done : p)));
          if (justUploaded.current === done.id) {
            setNotice(done.status === "ready" ? `已新增「${done.name}」` : null);
          }
        })
        .catch((e) => {
          if (e instanceof ApiError && e.status === 404) {
            setProfiles((list) => list.filter((p) => p.id !== profile.id)); // deleted meanwhile
            return;
          }
          setNotes((n) => ({ ...n, [profile.id]: e instanceof ApiError ? e.message : "無法取得聲音分析的進度" }));
        })
        .finally(() => polling.current.delete(profile.id));
    }
  }, [profiles, notes]);

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
      {listError && <p className="field-error" role="alert">{listError}</p>}
      <VoiceList profiles={profiles} selectedId={voiceId} notes={notes} onSelect={(id) => void apply(mode, id)} onDelete={onDelete} />
      <h3 className="panel__heading">新增聲音</h3>
      <VoiceRecorder onRecorded={setCandidate} />
      <VoiceUpload
        candidate={candidate}
        onCandidate={setCandidate}
        onUploaded={(profile) => {
          justUploaded.current = profile?.id ?? null;
          if (!profile) setNotice("已上傳");
          else if (profile.status === "processing") setNotice(`已上傳「${profile.name}」，分析中…`);
          else setNotice(profile.status === "ready" ? `已新增「${profile.name}」` : null);
          void refresh();
        }}
      />
      {notice && (
        <p className="success" role="status" data-testid="voice-notice">
          {notice}
        </p>
      )}
    </div>
  );
}
