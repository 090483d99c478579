//! Chat templates from `tokenizer_config.json`, rendered with `minijinja`.
//!
//! `transformers` renders templates with Jinja2 using `trim_blocks`, `lstrip_blocks`, a
//! `raise_exception` function and Python string methods (`.strip()`, `.startswith()`…); the
//! same environment is set up here so published templates render byte for byte.

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value, context};
use serde::{Deserialize, Serialize};

use crate::TextError;

mod screen;

pub use screen::MAX_LITERAL;

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A turn with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
}

/// A compiled chat template plus the special tokens it may refer to.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

const NAME: &str = "chat";

/// The most instructions one render of a chat template may run (minijinja's fuel).
pub const CHAT_FUEL: u64 = 2_000_000;

/// The longest prompt one render may produce, in bytes (the messages it is given count).
pub const MAX_RENDER_BYTES: usize = 16 << 20;

impl ChatTemplate {
    /// Compiles `source`.
    ///
    /// # Errors
    /// [`TextError::Template`] if it does not parse, or if it uses an operation that can
    /// allocate without bound (the `*` operator, number literals above [`MAX_LITERAL`]).
    pub fn new(
        source: &str,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, TextError> {
        screen::screen(source)?;
        let mut env = Environment::new();
        // A template comes from the model folder: bound the work one render may do (a
        // hostile template's nested loops are an error, not a hang; found by fuzzing).
        // Real chat templates use a few thousand instructions per message.
        env.set_fuel(Some(CHAT_FUEL));
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<Value, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| TextError::Template(e.to_string()))?;
        Ok(ChatTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    /// Renders `messages`; with `add_generation_prompt` the assistant header is appended.
    ///
    /// # Errors
    /// [`TextError::Template`] if rendering fails (including the template's own
    /// `raise_exception`, e.g. for roles it does not accept), running out of fuel
    /// ([`CHAT_FUEL`]) or producing more than [`MAX_RENDER_BYTES`].
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TextError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TextError::Template(e.to_string()))?;
        let mut out = Bounded::default();
        template
            .render_captured_to(
                context! {
                    messages => messages,
                    add_generation_prompt => add_generation_prompt,
                    bos_token => self.bos_token.clone().unwrap_or_default(),
                    eos_token => self.eos_token.clone().unwrap_or_default(),
                },
                &mut out,
            )
            .map_err(|e| {
                TextError::Template(if out.exceeded {
                    format!("the rendered prompt exceeds {MAX_RENDER_BYTES} bytes")
                } else {
                    e.to_string()
                })
            })?;
        String::from_utf8(out.bytes).map_err(|e| TextError::Template(e.to_string()))
    }
}

/// A render's output, refusing to grow past [`MAX_RENDER_BYTES`] (minijinja reports a
/// failed write without its message, so `exceeded` says why).
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    exceeded: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > MAX_RENDER_BYTES {
            self.exceeded = true;
            return Err(std::io::Error::other("too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_python_methods_and_trimmed_blocks() {
        let t = ChatTemplate::new(
            "{% for m in messages %}\n  [{{ m.role }}]{{ m.content.strip() }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
            None,
            None,
        )
        .unwrap();
        let out = t.render(&[ChatMessage::user("  hi  ")], true).unwrap();
        // As Jinja2 renders it (checked with jinja2 3.x): the newline after the block tag is
        // trimmed, the indentation before `{{` is kept.
        assert_eq!(out, "  [user]hi\n[assistant]");
    }

    #[test]
    fn a_template_that_would_run_for_ages_is_an_error() {
        let t = ChatTemplate::new(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            None,
            None,
        )
        .unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            t.render(&[ChatMessage::user("hi")], true),
            Err(TextError::Template(_))
        ));
        assert!(started.elapsed().as_secs() < 10);
    }

    #[test]
    fn a_render_past_the_byte_bound_is_an_error() {
        let t = ChatTemplate::new(
            "{% for i in range(100000) %}{{ messages[0].content }}{% endfor %}",
            None,
            None,
        )
        .unwrap();
        let long = "y".repeat(1000);
        let err = t.render(&[ChatMessage::user(long)], false).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }

    #[test]
    fn template_errors_are_typed() {
        assert!(matches!(
            ChatTemplate::new("{% for %}", None, None),
            Err(TextError::Template(_))
        ));
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}", None, None).unwrap();
        let err = t.render(&[], false).unwrap_err().to_string();
        assert!(err.contains("no system role"), "{err}");
    }
}
