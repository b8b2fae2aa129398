//! Printing a command's result on stdout.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`rollgate events | head`).
//! A command-line tool stops quietly then, as `ls` and `kubectl` do: what was asked for has
//! been read.

use std::io::{ErrorKind, Write};

/// Writes to stdout; a closed pipe ends the process with success, other write errors (a full
/// disk behind a redirection) are reported on stderr and end it with failure.
pub(crate) fn write(text: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stdout().lock().write_fmt(text) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing the output failed: {e}");
        std::process::exit(3);
    }
}

/// `println!` through [`write`].
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
