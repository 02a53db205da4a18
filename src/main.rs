//! batchscore: score a day's data through an ONNX model, on a schedule.
//! `main` runs the command and maps its error to the exit code, in one place.

use std::process::ExitCode;

use batchscore::error::{Kind, kind_of};
use batchscore::{app, cli, logging};

fn main() -> ExitCode {
    // A panic is a bug, but the scheduler still deserves a documented exit
    // code and one line saying so, not an abort.
    let outcome = std::panic::catch_unwind(app::run);
    let code = match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            let kind = kind_of(&err);
            // One message, whole, in the format the operator asked for.
            match logging::format() {
                cli::LogFormat::Json => {
                    tracing::error!(kind = kind.label(), exit_code = kind.exit_code(), "{err:#}")
                }
                cli::LogFormat::Human => {
                    eprintln!("error: {err:#}\n({}, exit code {})", kind.label(), kind.exit_code())
                }
            }
            kind.exit_code()
        }
        Err(_) => Kind::Internal.exit_code(),
    };
    ExitCode::from(code)
}
