//! Liap Tui rules (work in progress).
