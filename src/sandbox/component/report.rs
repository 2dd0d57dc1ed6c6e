//! The guest's `report.outcome` import: how a run ended, read straight from
//! the guest's memory.
//!
//! Every text the guest reports is under its control (user code can replace
//! goru's own guest modules, and with them the guest-side cap). Lifting the
//! texts as `String`s would copy each whole into host memory first; taking
//! them as `WasmStr` borrows the guest's bytes while the guest is paused in
//! this call, and only the first `cap` bytes are ever copied.

use wasmtime::component::{ComponentType, Lift, Linker, WasmStr};
use wasmtime::{AsContext, StoreContext, StoreContextMut};

use super::State;
use crate::sandbox::outcome::{self, Display, GuestError, MAX_TYPE_NAME};

/// The interface as the guest's WIT world names it.
const INTERFACE: &str = "goru:sandbox/report@0.1.0";

#[derive(ComponentType, Lift)]
#[component(record)]
struct RawError {
    #[component(name = "type-name")]
    type_name: WasmStr,
    message: WasmStr,
    traceback: WasmStr,
    truncated: bool,
}

#[derive(ComponentType, Lift)]
#[component(record)]
struct RawDisplay {
    plain: WasmStr,
    html: Option<WasmStr>,
    truncated: bool,
}

/// What the guest reported for the current call.
pub struct Reported {
    pub exit_code: i32,
    pub error: Option<GuestError>,
    pub result: Option<Display>,
}

type Params = (i32, Option<RawError>, Option<RawDisplay>);

pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.instance(INTERFACE)?.func_wrap(
        "outcome",
        |mut store: StoreContextMut<'_, State>, params: Params| {
            let reported = read(&store.as_context(), params);
            store.data_mut().reported = Some(reported);
            Ok(())
        },
    )
}

fn read(store: &StoreContext<'_, State>, (exit_code, error, value): Params) -> Reported {
    let cap = usize::try_from(store.data().run.stdout.cap()).unwrap_or(usize::MAX);
    let error = error.map(|e| {
        let (type_name, cut_name) = text(store, &e.type_name, MAX_TYPE_NAME);
        let (message, cut_message) = text(store, &e.message, cap);
        let (traceback, cut_traceback) = text(store, &e.traceback, cap);
        GuestError {
            truncated: e.truncated || cut_name || cut_message || cut_traceback,
            ..GuestError::new(type_name, message, traceback)
        }
    });
    let result = value.map(|d| {
        let (plain, cut_plain) = text(store, &d.plain, cap);
        let html = d.html.as_ref().map(|h| text(store, h, cap));
        let cut_html = html.as_ref().is_some_and(|(_, cut)| *cut);
        Display {
            plain,
            html: html.map(|(h, _)| h),
            truncated: d.truncated || cut_plain || cut_html,
        }
    });
    Reported {
        exit_code,
        error,
        result,
    }
}

/// At most `cap` bytes of `text`, on a character boundary, and whether it
/// was cut. Only what is kept is copied.
fn text(store: &StoreContext<'_, State>, text: &WasmStr, cap: usize) -> (String, bool) {
    match text.to_str(store) {
        Ok(whole) => {
            let (head, was_cut) = outcome::cut_str(&whole, cap);
            (head.to_owned(), was_cut)
        }
        // The guest's string encoding guarantees UTF-8; a guest that broke
        // it gets a marker, not a trap.
        Err(_) => ("<not valid UTF-8>".to_owned(), true),
    }
}
