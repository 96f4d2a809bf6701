"""webrtcvad (webrtcvad-wheels 2.0.14.post1): mode 3, 30 ms frames, with py-webrtcvad's example
collector (a 300 ms ring buffer that triggers on / off at 90 % voiced / unvoiced frames)."""
import collections

import webrtcvad

from _common import SR, decode, parse_args, run_files

MODE, FRAME_MS, PADDING_MS, RATIO = 3, 30, 300, 0.9


def vad_collector(pcm: bytes, vad: webrtcvad.Vad):
    """example.py's vad_collector, returning [start_s, end_s] instead of audio bytes."""
    n = int(SR * FRAME_MS / 1000) * 2  # bytes per frame
    dur = FRAME_MS / 1000
    ring = collections.deque(maxlen=PADDING_MS // FRAME_MS)
    triggered, start, out = False, 0.0, []
    ts = 0.0
    for off in range(0, len(pcm) - n + 1, n):
        speech = vad.is_speech(pcm[off:off + n], SR)
        if not triggered:
            ring.append((ts, speech))
            if sum(1 for _, s in ring if s) > RATIO * ring.maxlen:
                triggered, start = True, ring[0][0]
                ring.clear()
        else:
            ring.append((ts, speech))
            if sum(1 for _, s in ring if not s) > RATIO * ring.maxlen:
                triggered = False
                out.append([start, ts + dur])
                ring.clear()
        ts += dur
    if triggered:
        out.append([start, ts])
    return out


def main():
    args = parse_args(__doc__)
    vad = webrtcvad.Vad(MODE)
    run_files(args.inputs, args.out,
              lambda p: (vad_collector(decode(p, "int16").tobytes(), vad), None))


if __name__ == "__main__":
    main()
