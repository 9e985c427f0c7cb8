//! The vocabulary every part of a merge shares: how a conflict is named, which side settles it, and the
//! three-way rule for one value.

words! {
    /// How a path conflicts.
    pub enum ConflictKind {
        /// Changed on both sides, differently.
        Modified = "modified-both",
        /// Added on both sides (or with no common base), differently.
        Added = "added-both",
        /// Changed on our side, deleted on theirs.
        DeletedTheirs = "deleted-by-them",
        /// Deleted on our side, changed on theirs.
        DeletedOurs = "deleted-by-us",
    }
}

/// Which side a conflict is settled with in the merged result (the merge driver leaves ours there while the
/// conflict stands; `dv checkout --ours/--theirs` chooses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Favor {
    Ours,
    Theirs,
}

/// The three-way rule for one value: the side that changed it (ours when both made the same change or
/// neither did), or `None` when both changed it differently.
pub fn three_way<'a, T: PartialEq>(base: &T, ours: &'a T, theirs: &'a T) -> Option<&'a T> {
    if ours == theirs || base == theirs {
        Some(ours)
    } else if base == ours {
        Some(theirs)
    } else {
        None
    }
}
