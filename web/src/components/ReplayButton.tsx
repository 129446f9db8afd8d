import { useEffect, useMemo, useRef, useState } from "react";
import { concatWavs } from "../lib/wav";
import type { Turn } from "../lib/types";

/** Replays a turn through an <audio> element: the HQ rendering once it is ready, otherwise
 * the fast sentences joined into one WAV. */
export function ReplayButton({ turn, onBeforePlay }: { turn: Turn; onBeforePlay?: () => void }) {
  const audioRef = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const fastUrl = useMemo(() => {
    if (!turn.audio.length) return undefined;
    const joined = concatWavs(turn.audio.map((p) => p.audio));
    const blob = joined ? new Blob([joined], { type: "audio/wav" }) : new Blob([turn.audio[0]!.audio], { type: "audio/wav" });
    return URL.createObjectURL(blob);
  }, [turn.audio]);
  useEffect(() => () => (fastUrl ? URL.revokeObjectURL(fastUrl) : undefined), [fastUrl]);

  const src = turn.hq?.url ?? fastUrl;
  if (!src) return null;

  const toggle = () => {
    const audio = audioRef.current;
    if (!audio) return;
    if (!audio.paused) {
      audio.pause();
      audio.currentTime = 0;
      return;
    }
    onBeforePlay?.();
    audio.currentTime = 0;
    void audio.play().catch(() => setPlaying(false));
  };

  return (
    <span className="replay">
      <button
        type="button"
        className="button button--small"
        onClick={toggle}
        aria-pressed={playing}
        aria-label={playing ? "停止重播" : turn.hq ? "重播（高品質）" : "重播"}
        data-testid="replay"
      >
        {playing ? "■ 停止" : "▶ 重播"}
      </button>
      {turn.hq && (
        <span className="badge badge--hq" title="已換成高品質語音" data-testid="hq-badge">
          HQ
        </span>
      )}
      <audio
        ref={audioRef}
        src={src}
        preload="auto"
        data-testid="replay-audio"
        data-source={turn.hq ? "hq" : "fast"}
        onPlay={() => setPlaying(true)}
        onPause={() => setPlaying(false)}
        onEnded={() => setPlaying(false)}
      />
    </span>
  );
}
