//! The scripted games in `rules/liap-tui/scripts/`, run natively (the host runs the same files
//! through the sandboxed module with `tabula replay`).

use crate::LiapTui;
use tabula_sdk::Harness;

fn run(name: &str, text: &str) {
    if let Err(failure) = Harness::<LiapTui>::run_script(text) {
        panic!("{name}: {failure}");
    }
}

#[test]
fn declarations_the_last_may_not_make_eight() {
    run(
        "declarations",
        include_str!("../../scripts/declarations.json"),
    );
}

#[test]
fn a_failing_script_reports_its_step_and_the_rule() {
    // The same report as `tabula replay`: the step, the code, the rule's words.
    let text = include_str!("../../scripts/declarations.json").replace(
        r#""action": { "declare": 2 }, "expect": { "refused": "illegal", "message": "8" }"#,
        r#""action": { "declare": 2 }"#,
    );
    let Err(failure) = Harness::<LiapTui>::run_script(&text) else {
        panic!("the script should fail");
    };
    assert_eq!((failure.step, failure.code.as_str()), (7, "illegal"));
    assert!(failure.message.contains('8'), "{failure}");
    assert!(
        failure.to_string().starts_with(r#"{"failed":"#),
        "{failure}"
    );
}

#[test]
fn a_redeal_doubles_the_stake_and_a_tie_is_shared() {
    run(
        "redeal-then-a-shared-win",
        include_str!("../../scripts/redeal-then-a-shared-win.json"),
    );
}

#[test]
fn the_round_limit_ends_the_game_with_the_leader_winning() {
    run(
        "round-limit-ends-the-game",
        include_str!("../../scripts/round-limit-ends-the-game.json"),
    );
}

#[test]
fn an_unanswered_redeal_question_is_declined_when_its_time_is_up() {
    run(
        "redeal-question-times-out",
        include_str!("../../scripts/redeal-question-times-out.json"),
    );
}
