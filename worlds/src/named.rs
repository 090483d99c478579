//! `named_enum!`: a closed set of values, each with one exact word (its name in captions,
//! prompts and file names), an `ALL` list, `name`, `parse`, `Display` and `FromStr`.

/// Declares a `Copy` enum whose variants each have one exact name.
///
/// `parse` is the inverse of `name`, exact (case-sensitive, no surrounding spaces); an
/// unknown word is [`WorldError::UnknownWord`](crate::WorldError::UnknownWord) naming `$kind`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $word)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; <[&str]>::len(&[$($word),+])] = [$($name::$variant),+];

            /// The value's exact word.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $word ),+
                }
            }

            /// The value named `word` (exact, case-sensitive).
            pub fn parse(word: &str) -> Result<Self, $crate::WorldError> {
                match word {
                    $( $word => Ok($name::$variant), )+
                    _ => Err($crate::WorldError::UnknownWord {
                        kind: $kind,
                        word: word.to_owned(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::WorldError;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                $name::parse(word)
            }
        }
    };
}

pub(crate) use named_enum;
