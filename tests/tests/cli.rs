//! The command-line client as a user runs it: the real `tidings-cli` binary
//! as a child process against the all-in-one over real sockets, in text and
//! JSON output, with development tokens and with a JWT, and failing with a
//! stable code and exit code on bad input. Needs the binary built first
//! (`cargo build -p tidings-cli`; `make test` builds every binary).

#[path = "common/cli.rs"]
mod cli;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tidings_testkit::{TestServer, dm};

use cli::Cli;

/// Exit codes the CLI documents.
const REFUSED: i32 = 1;
const USAGE: i32 = 2;
const CONNECTION: i32 = 3;

fn texts(messages: &Value) -> Vec<&str> {
    let messages = messages.as_array().expect("an array of messages");
    messages.iter().filter_map(|m| m["text"].as_str()).collect()
}

#[tokio::test]
async fn send_and_history_in_text_and_json() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());

    let sent = cli.ok("alice", "send --to bob hello bob").await;
    let fields: Vec<&str> = sent.stdout.trim_end().split('\t').collect();
    assert_eq!(fields[..2], ["dm:alice:bob", "1"], "{}", sent.stdout);
    let ack = cli
        .json("alice", "send --with bob --client-msg-id c-2 second")
        .await;
    assert_eq!(ack["conversation_id"], "dm:alice:bob");
    assert_eq!(ack["conv_seq"], 2);
    assert_eq!(ack["duplicate"], false);
    // A retry with the same client_msg_id is the same message.
    let retry = cli
        .json("alice", "send --to bob --client-msg-id c-2 second")
        .await;
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["message_id"], ack["message_id"]);

    let history = cli.ok("bob", "history --with alice").await;
    assert_eq!(history.lines(), ["2\talice\tsecond", "1\talice\thello bob"]);
    let history = cli.json("bob", "history --with alice").await;
    assert_eq!(history["conversation_id"], "dm:alice:bob");
    assert_eq!(texts(&history["messages"]), ["second", "hello bob"]);
    let newest = &history["messages"][0];
    assert_eq!(newest["sender_id"], "alice");
    assert_eq!(newest["message_id"], ack["message_id"]);
    assert_eq!(newest["client_msg_id"], "c-2");
    assert_eq!(newest["kind"], "text");
    let paged = cli
        .json("bob", "history --with alice --before 2 --limit 5")
        .await;
    assert_eq!(texts(&paged["messages"]), ["hello bob"]);

    // The inbox, caught up once, then resumed from the printed checkpoint.
    let listened = cli.ok("bob", "listen --no-follow").await;
    let lines = listened.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "1\tdm:alice:bob\t1\talice\thello bob");
    assert_eq!(lines[2], "checkpoint\t2");
    cli.ok("alice", "send --to bob third").await;
    let resumed = cli
        .ok("bob", "--json listen --no-follow --checkpoint 2")
        .await;
    let items: Vec<Value> = resumed
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["type"], "message");
    assert_eq!(items[0]["inbox_seq"], 3);
    assert_eq!(items[0]["message"]["text"], "third");
    assert_eq!(items[1], json!({"type": "checkpoint", "checkpoint": 3}));
    server.shutdown().await;
}

#[tokio::test]
async fn groups_are_created_managed_and_read() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());

    let create = [
        "--user", "alice", "group", "create", "--id", "team", "--name", "The team", "bob",
    ];
    let created = cli.run(&create).await.success();
    assert_eq!(created.stdout, "team\tg:team\talice\t2\tThe team\n");
    let added = cli.json("alice", "group add team carol").await;
    let expected = json!({"group_id": "team", "conversation_id": "g:team", "name": "The team",
                          "owner": "alice", "member_count": 3, "large": false});
    assert_eq!(added, expected);
    let members = cli.json("bob", "group members team").await;
    let roles: Vec<(&str, &str)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    let all = [("alice", "owner"), ("bob", "member"), ("carol", "member")];
    assert_eq!(roles, all);
    let first = cli.ok("bob", "group members team --limit 1").await;
    assert_eq!(first.lines().len(), 1);
    assert!(first.stdout.starts_with("alice\towner\t"));

    // Only the owner removes others.
    let refused = cli.line("--json --user bob group remove team carol").await;
    refused.json_error(REFUSED, "forbidden");
    let removed = cli.json("alice", "group remove team carol").await;
    assert_eq!(removed["member_count"], 2);
    let listed = cli.json("bob", "group list").await;
    assert_eq!(listed["groups"][0]["group_id"], "team");

    cli.ok("bob", "send --group team hi team").await;
    let outsider = cli
        .line("--json --user carol send --group team hello")
        .await;
    outsider.json_error(REFUSED, "not_member");

    // The group's history: membership changes, then the text.
    let history = cli.ok("alice", "history --conversation g:team").await;
    let lines = [
        "4\tbob\thi team",
        "3\talice\t(alice removed carol)",
        "2\talice\t(alice added carol)",
        "1\talice\t(alice created the group with bob)",
    ];
    assert_eq!(history.lines(), lines);
    let history = cli.json("alice", "history --group team").await;
    assert_eq!(texts(&history["messages"]), ["hi team"]);
    let removal = json!({"action": "removed", "actor": "alice", "user_ids": ["carol"]});
    assert_eq!(history["messages"][1]["membership"], removal);
    server.shutdown().await;
}

/// `(unread, read_seq)` of `conversation` in `user`'s conversation list.
async fn unread(cli: &Cli, user: &str, conversation: &str) -> (u64, u64) {
    let list = cli.json(user, "conversations --latest 1").await;
    let conversations = list["conversations"].as_array().unwrap();
    let summary = conversations
        .iter()
        .find(|c| c["conversation_id"] == conversation)
        .unwrap_or_else(|| panic!("{conversation} not listed: {list}"));
    assert_eq!(summary["latest"].as_array().unwrap().len(), 1);
    let number = |key: &str| summary[key].as_u64().unwrap();
    (number("unread"), number("read_seq"))
}

#[tokio::test]
async fn unread_counts_drop_after_marking_read() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());
    let conversation = dm("alice", "bob");
    for text in ["one", "two", "three"] {
        cli.ok("alice", &format!("send --to bob {text}")).await;
    }
    assert_eq!(unread(&cli, "bob", &conversation).await, (3, 0));
    // The sender's own messages are never unread.
    assert_eq!(unread(&cli, "alice", &conversation).await, (0, 0));

    let marked = cli.ok("bob", "read mark --with alice --seq 2").await;
    assert_eq!(marked.stdout, "dm:alice:bob\t2\n");
    assert_eq!(unread(&cli, "bob", &conversation).await, (1, 2));
    let listed = cli.ok("bob", "conversations").await;
    assert_eq!(listed.stdout, "dm:alice:bob\t1\t2\t3\n");
    let shown = cli.ok("bob", "read show --with alice").await;
    assert_eq!(shown.stdout, "dm:alice:bob\t1\t2\t3\n");

    // Positions never move back; without --seq, everything is read.
    let back = cli
        .json(
            "bob",
            &format!("read mark --conversation {conversation} --seq 1"),
        )
        .await;
    assert_eq!(
        back,
        json!({"conversation_id": conversation, "read_seq": 2})
    );
    let all = cli.json("bob", "read mark --with alice").await;
    assert_eq!(all["read_seq"], 3);
    let shown = cli.json("bob", "read show").await;
    let position = json!({"conversation_id": conversation, "last_conv_seq": 3,
                          "read_seq": 3, "unread": 0});
    assert_eq!(shown, json!({"read_positions": [position]}));
    server.shutdown().await;
}

#[tokio::test]
async fn rooms_reach_listeners_and_chats() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());

    let mut listener = cli.spawn("--json --user bob room listen lobby --count 2");
    let joined = json!({"type": "joined", "room_id": "lobby"});
    assert_eq!(listener.json().await, joined);
    let sent = cli.ok("alice", "room send lobby hi room").await;
    assert_eq!(sent.stdout, "lobby\n");
    let message = listener.json().await;
    assert_eq!(message["type"], "room_message");
    assert_eq!(message["room_id"], "lobby");
    assert_eq!(message["sender_id"], "alice");
    assert_eq!(message["text"], "hi room");

    // A chat sends its input lines and sees its own messages; `/leave`
    // leaves, and end of input stops it.
    let mut chat = cli.spawn("--user carol room chat lobby");
    assert_eq!(chat.line().await, "joined\tlobby");
    chat.write_line("from carol").await;
    assert_eq!(chat.line().await, "lobby\tcarol\tfrom carol");
    let seen = listener.json().await;
    assert_eq!(
        (&seen["sender_id"], &seen["text"]),
        (&json!("carol"), &json!("from carol"))
    );
    let (code, rest) = listener.finish().await;
    assert_eq!(code, 0);
    assert_eq!(rest, [r#"{"room_id":"lobby","type":"left"}"#]);
    chat.write_line("/leave").await;
    assert_eq!(chat.line().await, "left\tlobby");
    chat.close_stdin();
    assert_eq!(chat.finish().await, (0, vec![]));

    // Room messages are not stored: nothing reached anyone's inbox.
    assert_eq!(server.inbox_head("bob").await, 0);
    let bad = ["--json", "--user", "alice", "room", "send", "no room", "x"];
    let refused = cli.run(&bad).await;
    assert!(refused.json_error(USAGE, "usage").starts_with("ROOM: "));
    server.shutdown().await;
}

#[tokio::test]
async fn listen_follows_pushes_until_terminated() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());
    let mut listen = cli.spawn("--json --user bob listen");
    cli.ok("alice", "send --to bob live").await;
    let entry = listen.json().await;
    assert_eq!(entry["message"]["text"], "live");
    listen.terminate();
    let (code, rest) = listen.finish().await;
    assert_eq!(code, 0, "a stop request is a clean exit");
    assert_eq!(rest, [r#"{"checkpoint":1,"type":"checkpoint"}"#]);
    server.shutdown().await;
}

const SECRET: &str = "cli-test-secret-of-at-least-32-bytes!";

fn jwt(sub: &str, exp_in: i64) -> String {
    let claims = json!({"sub": sub, "exp": get_current_timestamp() as i64 + exp_in});
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

#[tokio::test]
async fn a_jwt_from_the_flag_or_the_environment_signs_in() {
    let server = TestServer::start_with(|config| {
        let auth = &mut config.gateway.auth;
        auth.scheme = tidings::AuthScheme::Jwt;
        auth.jwt.hs_secret = SECRET.into();
    })
    .await;
    let cli = Cli::new(server.url());
    let (alice, bob) = (jwt("alice", 300), jwt("bob", 300));

    // The user comes from the token's `sub`: the conversation is alice's.
    let send = ["--json", "--token", &alice, "send", "--to", "bob", "signed"];
    let ack = cli.run(&send).await.success().json();
    assert_eq!(ack["conversation_id"], "dm:alice:bob");
    let from_env = [("TIDINGS_TOKEN", bob.as_str())];
    let read = ["--json", "history", "--with", "alice"];
    let history = cli.run_with_env(&read, &from_env).await.success().json();
    assert_eq!(history["messages"][0]["sender_id"], "alice");
    assert_eq!(texts(&history["messages"]), ["signed"]);

    // An expired token, and development tokens on a JWT gateway, are refused.
    let expired = jwt("alice", -60);
    let refused = cli
        .run(&["--json", "--token", &expired, "conversations"])
        .await;
    assert!(
        refused
            .json_error(REFUSED, "unauthenticated")
            .contains("expired")
    );
    let dev = cli.line("--json --user alice conversations").await;
    dev.json_error(REFUSED, "unauthenticated");
    let both = ["--json", "--user", "alice", "conversations"];
    let both = cli.run_with_env(&both, &from_env).await;
    assert!(both.json_error(USAGE, "usage").contains("not both"));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_fails_with_a_stable_code_and_exit_code() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());
    let usage = async |line: &str| cli.line(line).await.json_error(USAGE, "usage");

    assert!(usage("--json send --to bob hi").await.contains("--token"));
    let bad_user = usage("--json --user alice send --to bob/smith hi").await;
    assert!(bad_user.starts_with("--with: "), "{bad_user}");
    let bad_self = usage("--json --user al/ice conversations").await;
    assert!(bad_self.starts_with("--user: "), "{bad_self}");
    let unordered = usage("--json --user alice history --conversation dm:bob:alice").await;
    assert!(unordered.contains("ascending"), "{unordered}");
    for seq in ["0", "-1", "ten"] {
        let bad_seq = usage(&format!(
            "--json --user bob read mark --with alice --seq={seq}"
        ))
        .await;
        assert!(bad_seq.contains("--seq"), "{bad_seq}");
    }
    // Without --json, clap's and the CLI's own messages alike are one
    // readable error on stderr.
    let text = cli.line("--user bob read mark --with alice --seq x").await;
    assert_eq!(text.code, USAGE);
    assert!(text.stderr.starts_with("error: "), "{}", text.stderr);
    let text = cli.line("--user bob send --to a+b hi").await;
    assert_eq!(text.code, USAGE);
    let why =
        "error: --with: user_id may contain only letters, digits, '_', '-' and '.', found '+'\n";
    assert_eq!(text.stderr, why);

    // The server's refusals keep their codes.
    let unknown = cli.line("--json --user alice group add nowhere bob").await;
    unknown.json_error(REFUSED, "unknown_group");
    let text = cli.line("--user alice history --group nowhere").await;
    assert_eq!(text.code, REFUSED);
    assert!(
        text.stderr.starts_with("error: unknown_group: "),
        "{}",
        text.stderr
    );

    // Nothing was stored by any of it.
    assert!(server.stored_messages(&dm("alice", "bob")).await.is_empty());
    server.shutdown().await;

    let gone = Cli::new("ws://127.0.0.1:1/ws");
    let unreachable = gone.line("--json --user alice conversations").await;
    let why = unreachable.json_error(CONNECTION, "connection");
    assert!(why.contains("ws://127.0.0.1:1/ws"), "{why}");
}

#[tokio::test]
async fn presence_watches_and_typing_signals() {
    let server = TestServer::start().await;
    let cli = Cli::new(server.url());

    let mut watch = cli.spawn("--user walt presence bob --count 3");
    assert_eq!(watch.line().await, "bob\toffline\t0");
    // Each CLI run is one connection: bob comes online, then leaves.
    let typed = cli.ok("bob", "typing --with walt").await;
    assert_eq!(typed.stdout, format!("{}\tforwarded\n", dm("bob", "walt")));
    assert_eq!(watch.line().await, "bob\tonline");
    let offline = watch.line().await;
    assert!(offline.starts_with("bob\toffline\t"), "{offline}");
    assert_ne!(offline, "bob\toffline\t0", "offline carries last seen");
    assert_eq!(watch.finish().await, (0, vec![]));

    let refused = cli
        .run(&[
            "--json",
            "--user",
            "dave",
            "typing",
            "--group",
            "nobody-here",
        ])
        .await;
    refused.json_error(REFUSED, "unknown_group");
    let bad = cli
        .run(&["--json", "--user", "walt", "presence", "no spaces"])
        .await;
    assert!(bad.json_error(USAGE, "usage").starts_with("USER: "));
    server.shutdown().await;
}
