//! The section counters kept rather than counted (R14): which active dialogs have an
//! inbound message, and each reader's marks and counts. Every change moves a count by
//! at most one, so asking for a user's counters costs a lookup, whatever the number of
//! dialogs; counting them in the database joined every active dialog with the user's
//! read marks on each ask.
//!
//! The invariant: a reader's counts are always the number of tracked dialogs on the
//! accounts they see that are unread by their marks, per section. Each operation moves
//! the counts by the difference its change makes, so the order of a dialog's change and
//! a reader's mark does not matter.

use std::collections::HashMap;

use super::dialog::DialogStatus;
use super::sections::Section;

/// Dialogs with unread messages per section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionCounts {
    pub new: i64,
    pub in_work: i64,
    pub all: i64,
}

impl SectionCounts {
    /// Adds `by` for one dialog in `status` (closed ones count nowhere; "All" holds every
    /// active one; "In work" only the reader's own, R13).
    fn shift(&mut self, status: DialogStatus, mine: bool, by: i64) {
        match Section::of(status) {
            Some(Section::New) => self.new += by,
            Some(Section::InWork) if mine => self.in_work += by,
            Some(Section::InWork) => {}
            Some(Section::All) | None => {}
        }
        if status.is_active() {
            self.all += by;
        }
    }
}

/// What the counters need of an active dialog that has an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub account_id: i64,
    pub status: DialogStatus,
    /// The user it was given to (its "In work" counts for them alone).
    pub responsible: Option<i64>,
    /// Its newest inbound message.
    pub last_inbound: i64,
}

impl Tracked {
    /// What a dialog's state makes of it: tracked only while active and with an inbound
    /// message (nothing else can be unread).
    pub fn of(
        account_id: i64,
        status: DialogStatus,
        responsible: Option<i64>,
        last_inbound: Option<i64>,
    ) -> Option<Self> {
        match last_inbound {
            Some(last_inbound) if status.is_active() => Some(Tracked {
                account_id,
                status,
                responsible,
                last_inbound,
            }),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Reader {
    user_id: i64,
    /// The newest message read, per dialog (a dialog's only while it is active).
    marks: HashMap<i64, i64>,
    /// The accounts the counts cover, sorted.
    visible: Vec<i64>,
    counts: SectionCounts,
}

impl Reader {
    fn sees(&self, account_id: i64) -> bool {
        self.visible.binary_search(&account_id).is_ok()
    }

    /// What `dialog` adds to the counts: 1 in its sections when seen and unread.
    fn shift(&mut self, dialog_id: i64, dialog: Option<Tracked>, by: i64) {
        if let Some(d) = dialog
            && self.sees(d.account_id)
            && d.last_inbound > self.marks.get(&dialog_id).copied().unwrap_or(0)
        {
            self.counts
                .shift(d.status, d.responsible == Some(self.user_id), by);
        }
    }
}

/// The tracked dialogs and the readers whose counters are kept.
#[derive(Debug, Default)]
pub struct Tally {
    dialogs: HashMap<i64, Tracked>,
    readers: HashMap<i64, Reader>,
}

impl Tally {
    /// Starts from the tracked dialogs as read from the database; no readers yet.
    pub fn new(dialogs: impl IntoIterator<Item = (i64, Tracked)>) -> Self {
        Tally {
            dialogs: dialogs.into_iter().collect(),
            readers: HashMap::new(),
        }
    }

    /// How many dialogs are tracked.
    pub fn tracked(&self) -> usize {
        self.dialogs.len()
    }

    /// A dialog's new state.
    pub fn set_dialog(
        &mut self,
        dialog_id: i64,
        account_id: i64,
        status: DialogStatus,
        responsible: Option<i64>,
        last_inbound: Option<i64>,
    ) {
        let before = self.dialogs.get(&dialog_id).copied();
        let now = Tracked::of(account_id, status, responsible, last_inbound);
        let closed = !status.is_active();
        if before == now && !closed {
            return;
        }
        for reader in self.readers.values_mut() {
            reader.shift(dialog_id, before, -1);
            reader.shift(dialog_id, now, 1);
            if closed {
                // Closed is final: the mark will never be asked again.
                reader.marks.remove(&dialog_id);
            }
        }
        match now {
            Some(tracked) => self.dialogs.insert(dialog_id, tracked),
            None => self.dialogs.remove(&dialog_id),
        };
    }

    /// A user's read mark moved (marks only move forward; an older one changes nothing).
    pub fn mark_read(&mut self, user_id: i64, dialog_id: i64, up_to: i64) {
        let dialog = self.dialogs.get(&dialog_id).copied();
        let Some(reader) = self.readers.get_mut(&user_id) else {
            return;
        };
        if dialog.is_none() || reader.marks.get(&dialog_id).is_some_and(|&m| m >= up_to) {
            return;
        }
        reader.shift(dialog_id, dialog, -1);
        reader.marks.insert(dialog_id, up_to);
        reader.shift(dialog_id, dialog, 1);
    }

    /// Starts keeping a user's counters from their read marks (a dialog's newest wins).
    pub fn add_reader(&mut self, user_id: i64, marks: impl IntoIterator<Item = (i64, i64)>) {
        let mut kept: HashMap<i64, i64> = HashMap::new();
        for (dialog_id, up_to) in marks {
            let mark = kept.entry(dialog_id).or_insert(up_to);
            *mark = (*mark).max(up_to);
        }
        let mut reader = Reader {
            user_id,
            marks: kept,
            visible: Vec::new(),
            counts: SectionCounts::default(),
        };
        self.recount(&mut reader, Vec::new());
        self.readers.insert(user_id, reader);
    }

    /// Whether a user's counters are kept.
    pub fn has_reader(&self, user_id: i64) -> bool {
        self.readers.contains_key(&user_id)
    }

    /// Stops keeping a user's counters.
    pub fn remove_reader(&mut self, user_id: i64) {
        self.readers.remove(&user_id);
    }

    /// A user's counters over the accounts in `visible`; `None` when they are not kept.
    /// When the accounts differ from the last ask (rights changed), they are counted
    /// afresh from the tracked dialogs, in memory.
    pub fn counts(&mut self, user_id: i64, visible: &[i64]) -> Option<SectionCounts> {
        let mut reader = self.readers.remove(&user_id)?;
        let mut wanted = visible.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted != reader.visible {
            self.recount(&mut reader, wanted);
        }
        let counts = reader.counts;
        self.readers.insert(user_id, reader);
        Some(counts)
    }

    fn recount(&self, reader: &mut Reader, visible: Vec<i64>) {
        reader.visible = visible;
        reader.counts = SectionCounts::default();
        for (&id, &dialog) in &self.dialogs {
            reader.shift(id, Some(dialog), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DialogStatus::*;

    /// Reader 7's dialog when accepted (the tests' "In work" is reader 7's).
    fn tracked(account_id: i64, status: DialogStatus, last_inbound: i64) -> Option<Tracked> {
        Tracked::of(account_id, status, Some(7), Some(last_inbound))
    }

    fn counts(new: i64, in_work: i64, all: i64) -> Option<SectionCounts> {
        Some(SectionCounts { new, in_work, all })
    }

    #[test]
    fn r14_counters_follow_messages_reads_and_status_over_the_visible_accounts() {
        let mut tally = Tally::new([(1, tracked(10, New, 5).unwrap())]);
        tally.add_reader(7, [(1, 3)]);
        assert_eq!(tally.counts(7, &[10]), counts(1, 0, 1));
        // Another account's dialogs count only for those who see it.
        tally.set_dialog(2, 20, Accepted, Some(7), Some(8));
        assert_eq!(tally.counts(7, &[10]), counts(1, 0, 1));
        assert_eq!(tally.counts(7, &[20, 10]), counts(1, 1, 2));
        // Reading up to the newest inbound message removes it; a later one brings it back.
        tally.mark_read(7, 1, 5);
        assert_eq!(tally.counts(7, &[10, 20]), counts(0, 1, 1));
        tally.set_dialog(1, 10, New, None, Some(9));
        assert_eq!(tally.counts(7, &[10, 20]), counts(1, 1, 2));
        // Accepting moves it between sections; closing removes it.
        tally.set_dialog(1, 10, Accepted, Some(7), Some(9));
        assert_eq!(tally.counts(7, &[10, 20]), counts(0, 2, 2));
        tally.set_dialog(1, 10, Closed, Some(7), Some(9));
        assert_eq!(tally.counts(7, &[10, 20]), counts(0, 1, 1));
        assert_eq!(tally.tracked(), 1);
        // Nobody else's counters are kept until asked for.
        assert_eq!(tally.counts(8, &[10]), None);
    }

    #[test]
    fn r13_in_work_counts_only_the_readers_own_dialogs() {
        let mut tally = Tally::new([]);
        tally.add_reader(7, []);
        tally.add_reader(8, []);
        // Reader 8 took it: it is in 8's "In work", in everyone's "All".
        tally.set_dialog(1, 10, Accepted, Some(8), Some(5));
        assert_eq!(tally.counts(7, &[10]), counts(0, 0, 1));
        assert_eq!(tally.counts(8, &[10]), counts(0, 1, 1));
        // Redirected to 7: it moves between their "In work" counters.
        tally.set_dialog(1, 10, Accepted, Some(7), Some(5));
        assert_eq!(tally.counts(7, &[10]), counts(0, 1, 1));
        assert_eq!(tally.counts(8, &[10]), counts(0, 0, 1));
    }

    #[test]
    fn r17_an_older_mark_or_a_mark_on_an_untracked_dialog_changes_nothing() {
        let mut tally = Tally::new([(1, tracked(10, Returned, 5).unwrap())]);
        tally.add_reader(7, [(1, 5), (1, 2)]);
        assert_eq!(tally.counts(7, &[10]), counts(0, 0, 0));
        tally.mark_read(7, 1, 4);
        assert_eq!(tally.counts(7, &[10]), counts(0, 0, 0));
        // A dialog with nothing inbound yet is not tracked; its first inbound message
        // is newer than any mark on it, so it is unread.
        tally.mark_read(7, 3, 2);
        tally.set_dialog(3, 10, New, None, None);
        assert_eq!(tally.counts(7, &[10]), counts(0, 0, 0));
        tally.set_dialog(3, 10, New, None, Some(6));
        assert_eq!(tally.counts(7, &[10]), counts(1, 0, 1));
    }

    #[test]
    fn r14_a_mark_read_ahead_of_its_dialog_counts_once_the_dialog_catches_up() {
        // The marks are read from the database after the dialogs: a mark may already
        // cover a message whose dialog change is still on its way.
        let mut tally = Tally::new([]);
        tally.add_reader(7, [(1, 5)]);
        tally.set_dialog(1, 10, New, None, Some(5));
        assert_eq!(tally.counts(7, &[10]), counts(0, 0, 0));
        tally.remove_reader(7);
        assert!(!tally.has_reader(7));
    }

    mod kept_equals_counted {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Step {
            Dialog(i64, i64, usize, Option<i64>, Option<i64>),
            Read(i64, i64, i64),
            Join(i64, Vec<(i64, i64)>),
            Leave(i64),
            Ask(i64, Vec<i64>),
        }

        fn any_step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (
                    0..6i64,
                    0..3i64,
                    0..4usize,
                    proptest::option::of(0..3i64),
                    proptest::option::of(1..30i64)
                )
                    .prop_map(|(d, a, s, r, l)| Step::Dialog(d, a, s, r, l)),
                (0..3i64, 0..6i64, 0..30i64).prop_map(|(u, d, m)| Step::Read(u, d, m)),
                (
                    0..3i64,
                    proptest::collection::vec((0..6i64, 0..30i64), 0..6)
                )
                    .prop_map(|(u, marks)| Step::Join(u, marks)),
                (0..3i64).prop_map(Step::Leave),
                (0..3i64, proptest::collection::vec(0..3i64, 0..3))
                    .prop_map(|(u, v)| Step::Ask(u, v)),
            ]
        }

        proptest! {
            /// After any sequence of changes, a kept reader's counts equal counting from
            /// scratch over the dialogs and the marks the reader was given and saw.
            #[test]
            fn r14_kept_counters_equal_counted_ones(steps in proptest::collection::vec(any_step(), 0..80)) {
                let mut tally = Tally::new([]);
                let mut dialogs: HashMap<i64, Tracked> = HashMap::new();
                let mut marks: HashMap<(i64, i64), i64> = HashMap::new();
                let mut readers: std::collections::HashSet<i64> = Default::default();
                for step in steps {
                    match step {
                        Step::Dialog(id, account, status, responsible, last) => {
                            let status = DialogStatus::ALL[status];
                            tally.set_dialog(id, account, status, responsible, last);
                            match Tracked::of(account, status, responsible, last) {
                                Some(t) => { dialogs.insert(id, t); }
                                None => { dialogs.remove(&id); }
                            }
                            if !status.is_active() {
                                marks.retain(|(_, d), _| *d != id);
                            }
                        }
                        Step::Read(user, id, up_to) => {
                            tally.mark_read(user, id, up_to);
                            if readers.contains(&user) && dialogs.contains_key(&id) {
                                let mark = marks.entry((user, id)).or_insert(up_to);
                                *mark = (*mark).max(up_to);
                            }
                        }
                        Step::Join(user, given) => {
                            tally.add_reader(user, given.clone());
                            readers.insert(user);
                            marks.retain(|(u, _), _| *u != user);
                            for (id, up_to) in given {
                                let mark = marks.entry((user, id)).or_insert(up_to);
                                *mark = (*mark).max(up_to);
                            }
                        }
                        Step::Leave(user) => {
                            tally.remove_reader(user);
                            readers.remove(&user);
                        }
                        Step::Ask(user, visible) => {
                            let kept = tally.counts(user, &visible);
                            if !readers.contains(&user) {
                                prop_assert_eq!(kept, None);
                                continue;
                            }
                            let mut counted = SectionCounts::default();
                            for (id, d) in &dialogs {
                                let mark = marks.get(&(user, *id)).copied().unwrap_or(0);
                                if visible.contains(&d.account_id) && d.last_inbound > mark {
                                    counted.shift(d.status, d.responsible == Some(user), 1);
                                }
                            }
                            prop_assert_eq!(kept, Some(counted));
                        }
                    }
                }
            }
        }
    }
}
