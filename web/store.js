// The workstation's one state: the dialogs it has seen (their list rows), the loaded
// list with its cursor, each dialog's loaded messages, the caller's read marks, the
// counters and whether the live stream is connected. Live events and the answers of the
// client's own actions are applied here; views subscribe to what they show and update in
// place. Nothing here touches the DOM or the network.

/** The statuses each section lists (the "All" section adds closed with its filter). */
export const SECTION_STATUSES = {
  new: ["new", "returned"],
  in_work: ["accepted"],
  all: ["new", "accepted", "returned"],
};

/** The list's order: newest last message first, then the higher id (as the server). */
export function newerFirst(a, b) {
  const at = (row) => (row.last_message_at ? Date.parse(row.last_message_at) : 0);
  return at(b) - at(a) || b.id - a.id;
}

/** Delivery states in the order they happen: a state never goes back. */
const DELIVERY_RANK = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

function laterDelivery(a, b) {
  return (DELIVERY_RANK[b] ?? -1) > (DELIVERY_RANK[a] ?? -1) ? b : a;
}

export class Store {
  constructor(me) {
    this.me = me;
    /** Every dialog row seen, by id. */
    this.rows = new Map();
    /** The caller's read mark per dialog (the newest message id read). */
    this.readUpTo = new Map();
    /** The list as loaded: its query, the ids in order, the next page's cursor. */
    this.list = { key: "", ids: [], cursor: null, loaded: false, above: new Set(), stale: false };
    /** Each dialog's loaded messages (oldest first) and the cursor for older ones. */
    this.feeds = new Map();
    this.counters = { new: 0, in_work: 0, all: 0 };
    this.online = false;
    this.listeners = new Map();
    /** Delivery states that came before their message (a fast channel): applied when it does. */
    this.earlyDeliveries = new Map();
    /** R46: who else views or types in each dialog: dialog id → user id → viewer. */
    this.presence = new Map();
  }

  /** Calls `fn(detail)` whenever `topic` changes; returns the unsubscribe. */
  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic).delete(fn);
  }

  emit(topic, detail) {
    for (const fn of this.listeners.get(topic) || []) fn(detail);
  }

  /** Whether the caller has unread messages in the dialog. */
  unread(id) {
    const row = this.rows.get(id);
    if (!row || !row.last_inbound_message_id) return false;
    return row.last_inbound_message_id > (this.readUpTo.get(id) || 0);
  }

  /** A row from the API or an event; a row from an event has nobody's read mark. */
  putRow(row) {
    if (row.read_up_to != null) {
      this.readUpTo.set(row.id, Math.max(row.read_up_to, this.readUpTo.get(row.id) || 0));
    } else if (!row.unread && row.last_inbound_message_id && !this.readUpTo.has(row.id)) {
      this.readUpTo.set(row.id, row.last_inbound_message_id);
    }
    const old = this.rows.get(row.id);
    // Rows come out of order only across a reconnect: the newer version wins.
    if (old && old.version > row.version) return old;
    this.rows.set(row.id, row);
    return row;
  }

  /** A fresh first page (`more` false) or the next page of the list `key`. */
  putPage(key, page, more) {
    if (!more || this.list.key !== key) {
      this.list = { key, ids: [], cursor: null, loaded: true, above: new Set(), stale: false };
    }
    for (const row of page.items) {
      this.putRow(row);
      if (!this.list.ids.includes(row.id)) this.list.ids.push(row.id);
    }
    this.list.cursor = page.next_cursor;
    this.emit("list", { reset: !more });
  }

  /**
   * Applies a live `dialog` event: the row changes in place, moves to where its new order
   * puts it, joins the list or leaves it. `belongs(row)` says whether the current list
   * (its section and filters) holds the row, or `null` when the client cannot tell (a
   * search, the channel-priority order): then only rows already shown change, and a new
   * one is announced. `atTop` says whether the user looks at the top of the list: if not,
   * a new row is announced above ("N new") instead of moving what they are reading.
   */
  applyDialog(row, belongs, atTop) {
    row = this.putRow(row);
    const ids = this.list.ids;
    const index = ids.indexOf(row.id);
    const verdict = belongs(row);
    if (verdict === false) {
      if (index >= 0) {
        ids.splice(index, 1);
        this.emit("list", { removed: row.id });
      }
      this.list.above.delete(row.id);
    } else if (verdict === null) {
      if (index < 0 && this.list.loaded) {
        this.list.stale = true;
        this.emit("list", { stale: true });
      }
    } else if (index >= 0) {
      ids.splice(index, 1);
      ids.splice(this.position(row), 0, row.id);
      this.emit("list", { moved: row.id });
    } else if (this.list.loaded) {
      if (atTop || this.position(row) > 0) {
        // Below the top: it takes its place among what is loaded (if it is older than
        // the last loaded row, the next page brings it).
        const at = this.position(row);
        if (at < ids.length || !this.list.cursor) {
          ids.splice(at, 0, row.id);
          this.emit("list", { added: row.id });
        }
      } else {
        this.list.above.add(row.id);
        this.emit("list", { above: this.list.above.size });
      }
    }
    this.emit(`row:${row.id}`, row);
    this.emit("rows", row);
  }

  /** Where `row` goes in the loaded list by the list's order. */
  position(row) {
    const ids = this.list.ids;
    let at = 0;
    while (at < ids.length && newerFirst(this.rows.get(ids[at]) || { id: 0 }, row) < 0) at += 1;
    return at;
  }

  /** Shows the rows announced above: they take their places at the top. */
  revealAbove() {
    for (const id of this.list.above) {
      const row = this.rows.get(id);
      if (row && !this.list.ids.includes(id)) this.list.ids.splice(this.position(row), 0, id);
    }
    this.list.above.clear();
    this.emit("list", { revealed: true });
  }

  /** The caller read the dialog up to `messageId` (their own action or another tab's). */
  applyRead(dialogId, messageId) {
    const was = this.readUpTo.get(dialogId) || 0;
    if (messageId <= was) return;
    this.readUpTo.set(dialogId, messageId);
    const row = this.rows.get(dialogId);
    if (row) this.emit(`row:${dialogId}`, row);
  }

  feed(dialogId) {
    if (!this.feeds.has(dialogId)) {
      this.feeds.set(dialogId, { items: [], before: null, loaded: false, complete: false });
    }
    return this.feeds.get(dialogId);
  }

  /** A page of older messages (or the newest page) as the API answered it. */
  putMessages(dialogId, page, older) {
    const feed = this.feed(dialogId);
    const known = new Set(feed.items.map((m) => m.id));
    const fresh = page.items.filter((m) => !known.has(m.id));
    feed.items = older ? fresh.concat(feed.items) : feed.items.concat(fresh);
    feed.items.sort((a, b) => a.id - b.id);
    if (older || !feed.loaded) {
      feed.before = page.next_cursor;
      feed.complete = !page.next_cursor;
    }
    feed.loaded = true;
    this.emit(`feed:${dialogId}`, { older, added: fresh.map((m) => m.id) });
  }

  /** A message from a live event or from the client's own reply. */
  applyMessage(message) {
    const feed = this.feeds.get(message.dialog_id);
    if (!feed || !feed.loaded) return;
    const early = this.earlyDeliveries.get(message.id);
    if (early) {
      this.earlyDeliveries.delete(message.id);
      if (laterDelivery(message.delivery, early.delivery) !== message.delivery) {
        message = { ...message, delivery: early.delivery, delivery_error: early.error || null };
      }
    }
    const at = feed.items.findIndex((m) => m.id === message.id);
    if (at >= 0) {
      const old = feed.items[at];
      const delivery = laterDelivery(old.delivery, message.delivery);
      feed.items[at] = { ...old, ...message, delivery,
        delivery_error: delivery === message.delivery ? message.delivery_error : old.delivery_error };
      this.emit(`feed:${message.dialog_id}`, { changed: [message.id] });
      return;
    }
    feed.items.push(message);
    feed.items.sort((a, b) => a.id - b.id);
    this.emit(`feed:${message.dialog_id}`, { added: [message.id] });
  }

  /** A delivery state of one of the operators' messages. */
  applyDelivery({ dialog_id: dialogId, message_id: id, delivery, error }) {
    const feed = this.feeds.get(dialogId);
    const message = feed && feed.items.find((m) => m.id === id);
    if (!message) {
      if (feed && feed.loaded) this.earlyDeliveries.set(id, { delivery, error });
      return;
    }
    // A failed reply sent again starts over (R44): the only way back from "failed".
    const retried = message.delivery === "failed" && delivery === "pending";
    if (!retried && laterDelivery(message.delivery, delivery) !== delivery) return;
    message.delivery = delivery;
    message.delivery_error = error || null;
    this.emit(`feed:${dialogId}`, { changed: [id] });
  }

  /** Colleagues in a dialog (the caller left out): a Map of user id → viewer. */
  viewers(dialogId) {
    return this.presence.get(dialogId) || new Map();
  }

  /** A colleague's change: `activity` null when they left. */
  applyPresence({ dialog_id: dialogId, user_id: userId, display_name: name, activity }) {
    if (userId === this.me.id) return;
    const viewers = new Map(this.viewers(dialogId));
    if (activity) viewers.set(userId, { display_name: name, activity });
    else if (!viewers.delete(userId)) return;
    if (viewers.size) this.presence.set(dialogId, viewers);
    else this.presence.delete(dialogId);
    this.emit(`presence:${dialogId}`, viewers);
    this.emit("presence", dialogId);
  }

  /** Everyone's presence afresh (on connecting): replaces what was known. */
  setPresence(list) {
    const was = new Set(this.presence.keys());
    this.presence = new Map();
    for (const v of list) {
      if (v.user_id === this.me.id) continue;
      if (!this.presence.has(v.dialog_id)) this.presence.set(v.dialog_id, new Map());
      this.presence.get(v.dialog_id).set(v.user_id, { display_name: v.display_name, activity: v.activity });
    }
    for (const id of new Set([...was, ...this.presence.keys()])) {
      this.emit(`presence:${id}`, this.viewers(id));
      this.emit("presence", id);
    }
  }

  setCounters(counters) {
    this.counters = counters;
    this.emit("counters", counters);
  }

  setOnline(online) {
    this.online = online;
    this.emit("online", online);
  }
}
