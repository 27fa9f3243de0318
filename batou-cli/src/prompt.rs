//! Asking for an encrypted key's passphrase on the terminal.

use batou_core::secrets::PassphrasePrompt;

/// Prompts on the controlling terminal (`/dev/tty`), so it works even when
/// stdin and stdout are redirected; without a terminal it gives no answer
/// and the caller reports the key as unusable.
pub struct TtyPrompt;

impl PassphrasePrompt for TtyPrompt {
    fn passphrase(&self, description: &str) -> Option<String> {
        std::fs::File::open("/dev/tty").ok()?;
        rpassword::prompt_password(format!("{description}: ")).ok()
    }
}

/// Keys that ask on the terminal for passphrases.
pub fn keys() -> batou_core::secrets::Keys {
    batou_core::secrets::Keys::new().with_prompt(std::sync::Arc::new(TtyPrompt))
}
