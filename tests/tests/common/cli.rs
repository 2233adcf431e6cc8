//! The `tidings-cli` binary as a child process: one-shot runs with their
//! exit code and output, and streams read line by line. The binary is looked
//! up next to the test binaries (`cargo build -p tidings-cli`, or `cargo
//! build --workspace --bins` as `make test` does, builds it).
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a run, or the next line of a stream, may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// The variables the CLI reads; removed so the caller's shell cannot leak in.
const CLI_ENV: &[&str] = &[
    "TIDINGS_URL",
    "TIDINGS_TOKEN",
    "TIDINGS_USER",
    "TIDINGS_DEVICE",
];

/// Runs the CLI against one gateway.
pub struct Cli {
    pub url: String,
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    pub fn new(url: impl Into<String>) -> Self {
        Cli { url: url.into() }
    }

    /// The command for `args`, with `--url` and `env` set and nothing else
    /// from the environment the CLI reads.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(tidings_testkit::binary("tidings-cli"));
        for key in CLI_ENV {
            command.env_remove(key);
        }
        command
            .envs(env.iter().copied())
            .arg("--url")
            .arg(&self.url)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `args` to the end.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[]).await
    }

    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = tokio::time::timeout(WAIT, self.command(args, env).output())
            .await
            .unwrap_or_else(|_| panic!("tidings-cli {args:?} did not finish"))
            .expect("tidings-cli runs");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    /// Runs a command line split at whitespace (for arguments without
    /// spaces; [`Cli::run`] takes any).
    pub async fn line(&self, line: &str) -> Run {
        self.run(&line.split_whitespace().collect::<Vec<_>>()).await
    }

    /// Runs `line` as `user` (development token) and expects success.
    pub async fn ok(&self, user: &str, line: &str) -> Run {
        self.line(&format!("--user {user} {line}")).await.success()
    }

    /// [`Cli::ok`] with `--json`, parsing the document printed.
    pub async fn json(&self, user: &str, line: &str) -> Value {
        self.ok(user, &format!("--json {line}")).await.json()
    }

    /// Starts `line` (split at whitespace) as a stream, stdin piped.
    pub fn spawn(&self, line: &str) -> Stream {
        let args: Vec<&str> = line.split_whitespace().collect();
        let mut child = self
            .command(&args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("tidings-cli starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        Stream {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        }
    }
}

impl Run {
    /// Asserts exit code 0.
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "tidings-cli failed: {}", self.stderr);
        self
    }

    /// Standard output as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts the run failed with `exit` and printed the JSON error `code`
    /// on stderr (and nothing on stdout); returns its message.
    pub fn json_error(&self, exit: i32, code: &str) -> String {
        assert_eq!(
            self.code, exit,
            "stdout {:?} stderr {:?}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stdout, "", "nothing on stdout after an error");
        let error: Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}): {}", self.stderr));
        assert_eq!(error["error"]["code"], code, "{error}");
        error["error"]["message"]
            .as_str()
            .expect("a message")
            .to_string()
    }
}

/// A running stream command.
pub struct Stream {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Stream {
    /// The next line of output.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("a line in time")
            .expect("stdout readable")
            .expect("output did not end")
    }

    /// The next line, as JSON.
    pub async fn json(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Writes one line to the command's standard input.
    pub async fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes standard input (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; returns the exit code and the remaining lines.
    pub async fn finish(mut self) -> (i32, Vec<String>) {
        let mut rest = Vec::new();
        while let Some(line) = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("output ends in time")
            .expect("stdout readable")
        {
            rest.push(line);
        }
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        (status.code().expect("exited, not killed"), rest)
    }
}
