"""The call state machine, fed sequences shaped like the real Asterisk recordings."""

from __future__ import annotations

import itertools

import pytest

from dialer.core import events as ev
from dialer.core.calls import Call, CallState, failure_disposition
from dialer.core.model import CallRecord, Disposition

from .conftest import make_lead

CID = "run-000001"


def new_call(amd: bool = True, bot_first: bool = False) -> Call:
    rec = CallRecord(call_id=CID, campaign="c1", lead=make_lead(1), attempt_no=1, created_at=0.0)
    return Call(rec, amd=amd, abandon_after_s=2.0, bot_first=bot_first)


def run(events: list[ev.CallEvent], amd: bool = True, close_at: float | None = None,
        bot_first: bool = False) -> Call:
    call = new_call(amd, bot_first)
    for e in events:
        call.apply(e)
    t = close_at if close_at is not None else max(e.at for e in events) + 5
    if call.ready_to_close(t):
        call.close(t)
    return call


# Sequences distilled from ../shared/asterisk/transcripts (times relative to originate).
HUMAN_CONNECTED = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.001, CID, leg=1),
    ev.CallLegCreated(0.001, CID, leg=2),
    ev.CallRinging(0.002, CID),
    ev.CallAnswered(2.004, CID),
    ev.AmdVerdict(4.186, CID, status="HUMAN", cause="HUMAN-800-800"),
    ev.CallQueued(4.187, CID, queue="agents"),
    ev.AgentOffered(4.187, CID, agent="agent1"),
    ev.CallConnected(4.188, CID, agent="agent1"),
    ev.CallCompleted(39.771, CID, agent="agent1", talk_s=36, reason="caller"),
    ev.CallHungUp(39.771, CID, leg=2, cause=16, cause_txt="Normal Clearing"),
    ev.CallHungUp(39.771, CID, leg=1, cause=16, cause_txt="Normal Clearing"),
]
MACHINE = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.001, CID, leg=1),
    ev.CallLegCreated(0.001, CID, leg=2),
    ev.CallRinging(0.002, CID),
    ev.CallAnswered(2.006, CID),
    ev.AmdVerdict(3.928, CID, status="MACHINE", cause="MAXWORDS-3-2"),
    ev.CallHungUp(3.928, CID, leg=1, cause=16),
    ev.CallHungUp(3.929, CID, leg=2, cause=16),
]
BUSY = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.002, CID, leg=1),
    ev.CallLegCreated(0.002, CID, leg=2),
    ev.CallFailed(0.003, CID, reason=5),
    ev.CallHungUp(0.003, CID, leg=2, cause=17, cause_txt="User busy"),
    ev.CallHungUp(0.003, CID, leg=1, cause=0, cause_txt="Unknown"),
]
NO_ANSWER = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.001, CID, leg=1),
    ev.CallLegCreated(0.001, CID, leg=2),
    ev.CallRinging(0.001, CID),
    ev.CallFailed(30.028, CID, reason=3),
    ev.CallHungUp(30.028, CID, leg=1, cause=19),
    ev.CallHungUp(30.029, CID, leg=2, cause=19),
]
ABANDON_CALLER = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.001, CID, leg=1),
    ev.CallLegCreated(0.001, CID, leg=2),
    ev.CallRinging(0.002, CID),
    ev.CallAnswered(5.007, CID),
    ev.AmdVerdict(7.189, CID, status="HUMAN", cause="HUMAN-800-800"),
    ev.CallQueued(7.189, CID, queue="agents"),
    ev.CallHungUp(42.745, CID, leg=2, cause=16),
    ev.QueueGaveUp(42.745, CID, reason="caller", hold_s=36),
    ev.CallHungUp(42.746, CID, leg=1, cause=16),
]


@pytest.mark.parametrize(
    ("events", "disposition", "abandoned", "cause", "amd"),
    [
        (HUMAN_CONNECTED, Disposition.CONNECTED, False, 16, "HUMAN"),
        (MACHINE, Disposition.MACHINE, False, 16, "MACHINE"),
        (BUSY, Disposition.BUSY, False, 17, None),
        (NO_ANSWER, Disposition.NO_ANSWER, False, 19, None),
        (ABANDON_CALLER, Disposition.ABANDONED, True, 16, "HUMAN"),
    ],
    ids=["human", "machine", "busy", "noanswer", "abandon"],
)
def test_recorded_sequences_give_the_right_disposition(events, disposition, abandoned, cause, amd):
    call = run(events)
    assert call.state is CallState.ENDED
    assert call.record.disposition is disposition
    assert call.record.abandoned is abandoned
    assert call.record.hangup_cause == cause
    assert call.record.amd_status == amd


def test_busy_closes_as_soon_as_both_legs_are_gone():
    call = new_call()
    for e in BUSY:
        call.apply(e)
    assert call.ready_to_close(0.003)


def test_failure_waits_for_the_peer_cause_within_the_grace():
    call = new_call()
    for e in BUSY[:5]:  # OriginateResponse failure, no hangups yet
        call.apply(e)
    assert not call.ready_to_close(0.5)
    assert call.ready_to_close(1.1)
    call.close(1.1)
    assert call.record.disposition is Disposition.BUSY
    assert call.record.hangup_cause is None


@pytest.mark.parametrize("seq", [HUMAN_CONNECTED, MACHINE, BUSY, NO_ANSWER, ABANDON_CALLER])
def test_every_event_duplicated_changes_nothing(seq):
    once = run(seq).record
    twice = run([e for e in seq for _ in (0, 1)]).record
    assert (twice.disposition, twice.abandoned, twice.hangup_cause, twice.agent) == (
        once.disposition,
        once.abandoned,
        once.hangup_cause,
        once.agent,
    )


def test_late_ringing_after_answer_does_not_move_the_call_back():
    call = new_call()
    for e in HUMAN_CONNECTED[:6]:
        call.apply(e)
    assert call.state is CallState.ANSWERED
    assert not call.apply(ev.CallRinging(2.5, CID))
    assert call.state is CallState.ANSWERED


def test_out_of_order_amd_before_answer_event():
    seq = list(HUMAN_CONNECTED)
    seq[5], seq[6] = seq[6], seq[5]  # verdict first, then OriginateResponse
    call = run(seq)
    assert call.record.disposition is Disposition.CONNECTED
    assert call.record.answer_at == pytest.approx(4.186)


def test_hangup_frames_before_the_failure_response_still_give_busy():
    seq = BUSY[:4] + BUSY[5:] + [BUSY[4]]
    assert run(seq).record.disposition is Disposition.BUSY


def test_any_permutation_of_the_tail_of_a_busy_call_is_busy():
    tail = BUSY[4:]
    for perm in itertools.permutations(tail):
        assert run(BUSY[:4] + list(perm)).record.disposition is Disposition.BUSY


def test_connected_later_than_the_threshold_is_flagged_abandoned():
    seq = [e for e in HUMAN_CONNECTED if not isinstance(e, ev.CallConnected)]
    seq.insert(9, ev.CallConnected(7.0, CID, agent="agent1"))
    call = run(seq)
    assert call.record.disposition is Disposition.CONNECTED
    assert call.record.abandoned is True


def test_queue_timeout_is_abandoned():
    seq = [
        *ABANDON_CALLER[:8],
        ev.QueueGaveUp(9.2, CID, reason="timeout"),
        ev.CallHungUp(12.3, CID, leg=1, cause=16),
        ev.CallHungUp(12.3, CID, leg=2, cause=16),
    ]
    call = run(seq)
    assert call.record.disposition is Disposition.ABANDONED
    assert call.record.queue_result == "timeout"


def test_person_hangs_up_during_amd_is_human_hangup_not_abandoned():
    seq = [*HUMAN_CONNECTED[:6], ev.CallHungUp(3.0, CID, leg=2, cause=16), ev.CallHungUp(3.0, CID, leg=1, cause=16)]
    call = run(seq)
    assert call.record.disposition is Disposition.HUMAN_HANGUP
    assert call.record.abandoned is False


def test_person_waits_past_threshold_without_queue_events_counts_abandoned():
    seq = [*HUMAN_CONNECTED[:7], ev.CallHungUp(10.0, CID, leg=1, cause=16), ev.CallHungUp(10.0, CID, leg=2, cause=16)]
    assert run(seq).record.disposition is Disposition.ABANDONED


def test_amd_off_answer_goes_straight_to_waiting_for_agent():
    call = new_call(amd=False)
    for e in HUMAN_CONNECTED[:6]:
        call.apply(e)
    assert call.state is CallState.HUMAN


def test_rejected_originate_is_failed_immediately():
    call = run([ev.AttemptApproved(0.0, CID), ev.OriginateRejected(0.01, CID, message="x")], close_at=0.01)
    assert call.record.disposition is Disposition.FAILED


def test_vanished_before_answer_is_lost():
    call = run([ev.AttemptApproved(0.0, CID), ev.OriginateQueued(0.01, CID), ev.CallVanished(5.0, CID)], close_at=5.0)
    assert call.record.disposition is Disposition.LOST


def test_vanished_after_connect_keeps_connected():
    call = run([*HUMAN_CONNECTED[:10], ev.CallVanished(20.0, CID)], close_at=20.0)
    assert call.record.disposition is Disposition.CONNECTED


def test_events_after_the_end_are_refused():
    call = run(BUSY)
    assert call.state is CallState.ENDED
    assert not call.apply(ev.CallAnswered(1.0, CID))


@pytest.mark.parametrize(
    ("reason", "cause", "expected"),
    [
        (5, None, Disposition.BUSY),
        (3, 19, Disposition.NO_ANSWER),
        (8, 34, Disposition.CONGESTION),
        (0, 1, Disposition.INVALID_NUMBER),
        (0, None, Disposition.FAILED),
        (0, 17, Disposition.BUSY),
        (1, None, Disposition.NO_ANSWER),
        (0, 28, Disposition.INVALID_NUMBER),
    ],
)
def test_failure_disposition_table(reason, cause, expected):
    assert failure_disposition(reason, cause) is expected


def test_bad_events_are_refused_at_construction():
    with pytest.raises(ValueError):
        ev.AmdVerdict(1.0, CID, status="MAYBE")
    with pytest.raises(ValueError):
        ev.CallAnswered(float("nan"), CID)
    with pytest.raises(ValueError):
        ev.CallAnswered(1.0, "")


def test_agent_complete_after_missed_events_means_connected():
    # The link dropped after the originate: answer, AMD and AgentConnect were never seen.
    call = run(
        [
            ev.AttemptApproved(0.0, CID),
            ev.CallLegCreated(0.1, CID, leg=1),
            ev.CallCompleted(40.0, CID, agent="agent1", talk_s=30, reason="caller"),
            ev.CallHungUp(40.0, CID, leg=2, cause=16),
            ev.CallHungUp(40.0, CID, leg=1, cause=16),
        ]
    )
    assert call.record.disposition is Disposition.CONNECTED
    assert call.record.connect_at == pytest.approx(10.0)


def test_normal_clearing_without_answer_or_response_is_lost_not_failed():
    call = run(
        [ev.AttemptApproved(0.0, CID), ev.CallLegCreated(0.1, CID, leg=1), ev.CallHungUp(20.0, CID, leg=1, cause=16)]
    )
    assert call.record.disposition is Disposition.LOST


def test_far_end_cause_without_response_still_classifies():
    call = run(
        [
            ev.AttemptApproved(0.0, CID),
            ev.CallLegCreated(0.1, CID, leg=1),
            ev.CallLegCreated(0.1, CID, leg=2),
            ev.CallHungUp(0.2, CID, leg=2, cause=17),
            ev.CallHungUp(0.2, CID, leg=1, cause=0),
        ]
    )
    assert call.record.disposition is Disposition.BUSY


def test_vanished_while_waiting_for_an_agent_is_lost_not_abandoned():
    call = run(HUMAN_CONNECTED[:8] + [ev.CallVanished(30.0, CID)], close_at=30.0)
    assert call.record.disposition is Disposition.LOST
    assert call.record.abandoned is False


def test_queue_timeout_after_asterisk_abandon_event_refines_the_reason():
    # Real Asterisk 22 sends QueueCallerAbandon on a queue timeout too, before the dialplan's
    # DialerQueueResult TIMEOUT (seen on a live PBX, see docs/asterisk.md).
    seq = ABANDON_CALLER[:8] + [
        ev.QueueGaveUp(8.2, CID, reason="caller", hold_s=1), ev.QueueGaveUp(8.2, CID, reason="timeout"),
        ev.CallHungUp(11.3, CID, leg=1, cause=16), ev.CallHungUp(11.3, CID, leg=2, cause=16),
    ]
    call = run(seq)
    assert call.record.disposition is Disposition.ABANDONED
    assert call.record.queue_result == "timeout"


# --- bot-first campaigns -----------------------------------------------------------------------

BOT_ANSWER = [
    ev.AttemptApproved(0.0, CID),
    ev.OriginateQueued(0.001, CID),
    ev.CallLegCreated(0.001, CID, leg=1),
    ev.CallRinging(0.002, CID),
    ev.CallAnswered(2.0, CID),
    ev.AmdVerdict(4.0, CID, status="HUMAN", cause="HUMAN-800-800"),
]


def run_bot(events: list[ev.CallEvent], *, amd: bool = True) -> Call:
    return run(events, amd, bot_first=True)


def test_bot_first_person_goes_to_the_bot_and_the_bot_handles_the_call() -> None:
    call = run_bot(BOT_ANSWER)
    assert call.state is CallState.BOT and call.record.bot_at == 4.0
    call = run_bot([*BOT_ANSWER, ev.BotResult(90.0, CID, dial_status="ANSWER"),
                    ev.CallHungUp(90.0, CID, leg=1, cause=16)])
    r = call.record
    assert (r.disposition, r.abandoned, r.handled_by, r.escalated_at) == (Disposition.CONNECTED, False, "bot", None)


def test_bot_first_without_amd_goes_to_the_bot_at_answer() -> None:
    call = run_bot(BOT_ANSWER[:5], amd=False)
    assert call.state is CallState.BOT and call.record.bot_at == 2.0


def test_bot_escalation_connected_to_an_agent_late_is_not_abandoned() -> None:
    call = run_bot([*BOT_ANSWER, ev.BotEscalated(60.0, CID), ev.CallQueued(60.1, CID, queue="agents"),
                    ev.CallConnected(75.0, CID, agent="agent1"), ev.CallCompleted(200.0, CID, agent="agent1"),
                    ev.CallHungUp(200.0, CID, leg=1, cause=16)])
    r = call.record
    assert (r.disposition, r.abandoned, r.handled_by, r.escalated_at) == (Disposition.CONNECTED, False, "agent", 60.0)


def test_bot_escalation_is_taken_once_and_only_from_the_bot() -> None:
    call = run_bot([*BOT_ANSWER, ev.BotEscalated(60.0, CID)])
    assert call.state is CallState.ESCALATED
    assert not call.apply(ev.BotEscalated(61.0, CID))
    assert call.record.escalated_at == 60.0
    # a person still in AMD (or a campaign that is not bot-first) cannot be escalated
    assert not run_bot(BOT_ANSWER[:5]).apply(ev.BotEscalated(5.0, CID))
    assert not run(HUMAN_CONNECTED[:6]).apply(ev.BotEscalated(5.0, CID))


def test_escalated_person_no_agent_came_is_handled_by_the_bot_not_abandoned() -> None:
    call = run_bot([*BOT_ANSWER, ev.BotEscalated(60.0, CID), ev.CallQueued(60.1, CID, queue="agents"),
                    ev.QueueGaveUp(120.1, CID, reason="caller", hold_s=60),
                    ev.QueueGaveUp(120.1, CID, reason="timeout"),
                    ev.CallHungUp(130.0, CID, leg=1, cause=16)])
    r = call.record
    assert (r.disposition, r.abandoned, r.handled_by, r.queue_result) == (
        Disposition.CONNECTED, False, "bot", "timeout")


def test_bot_that_did_not_answer_leaves_an_abandoned_person() -> None:
    call = run_bot([*BOT_ANSWER, ev.BotResult(5.0, CID, dial_status="CHANUNAVAIL"),
                    ev.CallHungUp(15.0, CID, leg=1, cause=16)])
    r = call.record
    assert (r.disposition, r.abandoned, r.handled_by, r.queue_result) == (
        Disposition.ABANDONED, True, None, "bot_chanunavail")


def test_bot_first_machine_is_still_a_machine() -> None:
    events = [*BOT_ANSWER[:5], ev.AmdVerdict(4.0, CID, status="MACHINE"), ev.CallHungUp(4.1, CID, leg=1)]
    call = run_bot(events)
    assert (call.record.disposition, call.record.bot_at, call.record.handled_by) == (Disposition.MACHINE, None, None)
