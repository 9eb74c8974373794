//! Where script output goes: standard output and error, or memory in tests. A failed write (a
//! closed pipe: `sessionctl -e ... | head`, or a full disk) marks the output closed, which
//! stops the script; the command then tells the two apart (`crate::stdout::check`).

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

/// A shared, line-oriented output stream.
#[derive(Clone)]
pub struct Output {
    sink: Rc<RefCell<Box<dyn Write>>>,
    /// The first write error; nothing is written after it.
    failed: Rc<RefCell<Option<io::Error>>>,
}

impl Output {
    pub fn new(sink: impl Write + 'static) -> Self {
        Self {
            sink: Rc::new(RefCell::new(Box::new(sink))),
            failed: Rc::new(RefCell::new(None)),
        }
    }

    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    pub fn stderr() -> Self {
        Self::new(io::stderr())
    }

    /// An output kept in memory, and the handle to read it back.
    pub fn capture() -> (Self, Captured) {
        let buffer = Captured::default();
        (Self::new(buffer.clone()), buffer)
    }

    /// Writes `text` and a newline.
    pub fn line(&self, text: &str) {
        self.write(text);
        self.write("\n");
    }

    /// Writes `text` as is and flushes it.
    pub fn write(&self, text: &str) {
        if self.is_closed() {
            return;
        }
        let mut sink = self.sink.borrow_mut();
        if let Err(error) = sink.write_all(text.as_bytes()).and_then(|()| sink.flush()) {
            // A broken pipe or a full disk: stop writing, and let the script stop.
            *self.failed.borrow_mut() = Some(error);
        }
    }

    /// Whether writing failed, e.g. because the reader of a pipe went away.
    pub fn is_closed(&self) -> bool {
        self.failed.borrow().is_some()
    }

    /// Why writing failed, if it did (a copy of the error: its kind and message).
    pub fn error(&self) -> Option<io::Error> {
        self.failed
            .borrow()
            .as_ref()
            .map(|error| io::Error::new(error.kind(), error.to_string()))
    }
}

/// Output captured in memory.
#[derive(Clone, Default)]
pub struct Captured(Rc<RefCell<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }

    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
