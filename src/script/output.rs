//! Where script output goes: standard output and error, or memory in tests. A closed pipe
//! (`sessionctl -e ... | head`) marks the output closed, which stops the script quietly.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;

/// A shared, line-oriented output stream.
#[derive(Clone)]
pub struct Output {
    sink: Rc<RefCell<Box<dyn Write>>>,
    closed: Rc<Cell<bool>>,
}

impl Output {
    pub fn new(sink: impl Write + 'static) -> Self {
        Self {
            sink: Rc::new(RefCell::new(Box::new(sink))),
            closed: Rc::new(Cell::new(false)),
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
        if self.closed.get() {
            return;
        }
        let mut sink = self.sink.borrow_mut();
        if sink
            .write_all(text.as_bytes())
            .and_then(|()| sink.flush())
            .is_err()
        {
            // A broken pipe or a full disk: stop writing, and let the script stop.
            self.closed.set(true);
        }
    }

    /// Whether writing failed, e.g. because the reader of a pipe went away.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
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
