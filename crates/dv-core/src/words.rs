//! `words!`: the enums of report fields that hold a state or a kind (a dataset's `state`, a step's `action`, a
//! problem's `problem`). Each variant names its word once: serde writes it in `--json` output and `as_str` /
//! `Display` give it to text output, so the two can never disagree.

/// Declares a report enum whose variants are written as the given words:
///
/// ```ignore
/// words! {
///     /// What happened to a step.
///     pub enum StepAction {
///         /// It ran.
///         Ran = "ran",
///         WouldRun = "would-run",
///     }
/// }
/// ```
///
/// The enum is `Clone, Copy, Debug, PartialEq, Eq, serde::Serialize` (each variant renamed to its word) and has
/// `as_str()` and `Display`.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $word)] $variant, )+
        }

        impl $name {
            /// The word for this value, as `--json` output writes it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    words! {
        /// A test enum.
        pub enum Sample {
            One = "one",
            TwoWords = "two-words",
            Snake = "snake_case",
        }
    }

    #[test]
    fn json_and_text_write_the_same_word() {
        for (v, word) in [
            (Sample::One, "one"),
            (Sample::TwoWords, "two-words"),
            (Sample::Snake, "snake_case"),
        ] {
            assert_eq!(v.as_str(), word);
            assert_eq!(v.to_string(), word);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{word}\""));
        }
        // Display honours width, as text tables use it.
        assert_eq!(format!("{:<5}|", Sample::One), "one  |");
    }
}
