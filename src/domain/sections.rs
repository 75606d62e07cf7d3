//! The list's sections and unread marks (R13, R14, R17).

use super::MessageId;
use super::dialog::DialogStatus;

/// A section of the dialog list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Nobody has it, or it was redirected and waits: statuses new and returned.
    New,
    /// Taken into work: status accepted.
    InWork,
    /// Both of the above; closed dialogs too when the "show closed" filter is on.
    All,
}

impl Section {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "new" => Some(Section::New),
            "in_work" => Some(Section::InWork),
            "all" => Some(Section::All),
            _ => None,
        }
    }

    /// The statuses listed in this section. Closed dialogs appear only in "All" and only
    /// with the filter on (R13).
    pub fn statuses(self, show_closed: bool) -> Vec<DialogStatus> {
        match self {
            Section::New => vec![DialogStatus::New, DialogStatus::Returned],
            Section::InWork => vec![DialogStatus::Accepted],
            Section::All if show_closed => DialogStatus::ALL.to_vec(),
            Section::All => vec![
                DialogStatus::New,
                DialogStatus::Returned,
                DialogStatus::Accepted,
            ],
        }
    }

    /// The section a counter of this status belongs to (closed ones count nowhere).
    pub fn of(status: DialogStatus) -> Option<Self> {
        match status {
            DialogStatus::New | DialogStatus::Returned => Some(Section::New),
            DialogStatus::Accepted => Some(Section::InWork),
            DialogStatus::Closed => None,
        }
    }
}

/// A dialog is unread for a user while its newest inbound message is above their mark.
pub fn is_unread(last_inbound: Option<MessageId>, read_up_to: Option<MessageId>) -> bool {
    match (last_inbound, read_up_to) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(last), Some(read)) => last > read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r13_new_holds_new_and_returned_in_work_accepted_and_all_both() {
        use DialogStatus::*;
        assert_eq!(Section::New.statuses(true), vec![New, Returned]);
        assert_eq!(Section::InWork.statuses(true), vec![Accepted]);
        assert_eq!(Section::All.statuses(false), vec![New, Returned, Accepted]);
        assert!(Section::All.statuses(true).contains(&Closed));
        assert_eq!(Section::parse("in_work"), Some(Section::InWork));
        assert_eq!(Section::parse("closed"), None);
        assert_eq!(Section::of(Closed), None);
    }

    #[test]
    fn r17_a_dialog_is_unread_until_its_newest_inbound_message_is_read() {
        assert!(!is_unread(None, None));
        assert!(is_unread(Some(MessageId(5)), None));
        assert!(is_unread(Some(MessageId(5)), Some(MessageId(4))));
        assert!(!is_unread(Some(MessageId(5)), Some(MessageId(5))));
    }
}
