// R46: presence. What this workstation says of its user — viewing the open dialog, typing
// in it, or just here — repeated before the server lets it lapse (viewing holds 45 s,
// typing 6 s, here 75 s); and the user set away by themself after ten idle minutes, back
// on their first move. What colleagues say arrives as `presence` events (see Store).

import { api, beacon } from "./lib.js";

/** How often a claim is repeated: well inside its lapse. */
const BEAT_MS = 20000;
/** How often "typing" is said again while the user keeps typing. */
const TYPING_EVERY_MS = 3000;
/** Idle this long, the user is set away (and back when they move). */
const AWAY_AFTER_MS = 10 * 60 * 1000;
const CLAIM = "/api/v1/presence";

export class PresenceReporter {
  /** `me()` is the signed-in user; `onStatus(user)` hears a status set automatically. */
  constructor(me, onStatus) {
    this.me = me;
    this.onStatus = onStatus;
    this.dialog = null;
    this.typedAt = 0;
    this.movedAt = Date.now();
    this.autoAway = false;
    setInterval(() => this.beat(), BEAT_MS);
    document.addEventListener("visibilitychange", () => this.beat());
    window.addEventListener("pagehide", () => {
      if (this.dialog) beacon(CLAIM, { dialog_id: this.dialog, claim: "left" });
    });
    for (const type of ["keydown", "pointerdown", "pointermove", "wheel"]) {
      window.addEventListener(type, () => this.moved(), { passive: true, capture: true });
    }
    this.beat();
  }

  say(claim, dialogId) {
    if (!this.me()) return Promise.resolve();
    const body = dialogId ? { dialog_id: dialogId, claim } : { claim };
    // Presence is best effort: a lost claim is repeated at the next beat.
    return api("POST", CLAIM, body).catch(() => {});
  }

  /** The dialog now open (`null`: none). */
  view(id) {
    if (this.dialog === id) return;
    if (this.dialog) this.say("left", this.dialog);
    this.dialog = id;
    this.typedAt = 0;
    this.beat();
  }

  /** A key went into the dialog's composer. */
  typing() {
    if (!this.dialog || document.hidden) return;
    const now = Date.now();
    if (now - this.typedAt < TYPING_EVERY_MS) return;
    this.typedAt = now;
    this.say("typing", this.dialog);
  }

  /** The claim again: viewing the open dialog while the tab shows, here otherwise. */
  beat() {
    if (!this.me()) return;
    if (this.dialog && !document.hidden) {
      this.viewing = true;
      this.say("viewing", this.dialog);
    } else {
      if (this.dialog && this.viewing) this.say("left", this.dialog);
      this.viewing = false;
      this.say("here");
    }
    this.idle();
  }

  moved() {
    this.movedAt = Date.now();
    if (this.autoAway) {
      this.autoAway = false;
      this.setStatus("online");
    }
  }

  idle() {
    const me = this.me();
    if (!this.autoAway && me && me.status !== "away" && Date.now() - this.movedAt >= AWAY_AFTER_MS) {
      this.autoAway = true;
      this.setStatus("away");
    }
  }

  async setStatus(status) {
    try {
      const user = await api("PUT", "/api/v1/me/status", { status });
      this.onStatus(user);
    } catch {
      // Tried again at the next beat or move.
      this.autoAway = status === "online";
    }
  }
}

/** "Борис смотрит", "Борис печатает", "Борис и Анна смотрят": who is in a dialog. */
export function presenceText(t, viewers) {
  if (!viewers || !viewers.size) return "";
  const all = [...viewers.values()];
  const typing = all.filter((v) => v.activity === "typing").map((v) => v.display_name);
  const viewing = all.filter((v) => v.activity !== "typing").map((v) => v.display_name);
  const part = (names, one, many) => (names.length ? t(names.length > 1 ? many : one, { who: names.join(", ") }) : "");
  return [part(typing, "presence.typing", "presence.typing_many"), part(viewing, "presence.viewing", "presence.viewing_many")]
    .filter(Boolean).join("; ");
}
