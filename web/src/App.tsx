import { useMemo, useState } from "react";
import { ChatLog } from "./components/ChatLog";
import { Composer } from "./components/Composer";
import { Header } from "./components/Header";
import { MicControl } from "./components/MicControl";
import { PartialTranscript } from "./components/PartialTranscript";
import { ProsodyPanel } from "./components/ProsodyPanel";
import { SideTabs } from "./components/SideTabs";
import { Toasts } from "./components/Toasts";
import { VoicePanel } from "./components/VoicePanel";
import { useAvatar } from "./hooks/useAvatar";

export function App() {
  const avatar = useAvatar();
  const { chat, connection } = avatar;
  const connected = connection.state.kind === "connected";
  const [tab, setTab] = useState("voice");
  const [prosodyId, setProsodyId] = useState<string | null>(null);
  const prosodyResults = useMemo(() => Object.values(chat.prosody), [chat.prosody]);

  const openProsody = (id: string) => {
    setProsodyId(id);
    setTab("prosody");
  };

  return (
    <div className="app">
      <a className="skip-link" href="#message">
        跳到輸入框
      </a>
      <Header state={connection.state} onRetry={connection.retry} onNewSession={avatar.newSession} />
      <main className="layout">
        <section className="chat" aria-label="對話">
          <ChatLog turns={chat.turns} prosody={chat.prosody} onOpenProsody={openProsody} onBeforeReplay={avatar.stopPlayback} />
          <div className="dock">
            <PartialTranscript text={chat.partial} speaking={chat.speaking} />
            <Composer disabled={!connected} onSend={avatar.send} />
            <MicControl
              enabled={connected && avatar.speechInput}
              unsupportedReason={avatar.speechInput ? undefined : "此伺服器尚未支援語音輸入。"}
              onFrame={avatar.sendAudioFrame}
              onEnd={avatar.endUtterance}
              onUnlock={avatar.unlockAudio}
            />
          </div>
        </section>
        <aside className="side" aria-label="設定與報告">
          <SideTabs
            active={tab}
            onChange={setTab}
            tabs={[
              { id: "voice", label: "聲音", content: <VoicePanel connected={connected} setMode={avatar.setMode} /> },
              {
                id: "prosody",
                label: "韻律報告",
                content: (
                  <ProsodyPanel results={prosodyResults} turns={chat.turns} selectedId={prosodyId} onSelect={setProsodyId} />
                ),
              },
            ]}
          />
        </aside>
      </main>
      <Toasts toasts={avatar.toasts} onDismiss={avatar.dismissToast} />
    </div>
  );
}
