//! An assignment's `maintenanceWindow {schedule, duration, timezone}` checked
//! as hawkBit's `MaintenanceScheduleHelper.validateMaintenanceSchedule`
//! checks it: all three given (or none), a Quartz cron, an `HH:mm:ss`
//! duration, a `±HH:mm` offset, and at least one window still to come —
//! else 400 `maintenanceScheduleInvalid`. The schedule itself (recurring
//! windows, lapse) is `server::schedule`.

use std::sync::Arc;

use crate::message::Response;
use crate::server::schedule::Schedule;
use crate::server::MaintenanceSchedule;
use crate::time::Time;

use super::wire::{self, MaintenanceWindow};

fn invalid(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.InvalidMaintenanceScheduleException",
        "hawkbit.server.error.maintenanceScheduleInvalid",
        message,
    )
}

/// The action's schedule for `w` assigned at `now`, or hawkBit's 400.
/// `None` when all three fields are empty (no window, as hawkBit).
pub(super) fn window(
    w: &MaintenanceWindow,
    now: Time,
) -> Result<Option<MaintenanceSchedule>, Response> {
    let fields = [&w.schedule, &w.duration, &w.timezone];
    if fields.iter().all(|f| f.is_empty()) {
        return Ok(None);
    }
    if fields.iter().any(|f| f.is_empty()) {
        return Err(invalid(
            "All of schedule, duration and timezone should either be null or non empty.",
        ));
    }
    let schedule =
        Schedule::parse(&w.schedule, &w.duration, &w.timezone).map_err(|e| invalid(e.0))?;
    if schedule.next_window(now).is_none() {
        return Err(invalid(
            "No valid maintenance window available after current time",
        ));
    }
    Ok(Some(MaintenanceSchedule::Recurring(Arc::new(schedule))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mw(schedule: &str, duration: &str, tz: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn valid_schedules_give_a_recurring_window() {
        let w = window(&mw("0 0 2 * * ?", "01:00:00", "+00:00"), Time(0)).expect("valid");
        let w = w.expect("a window");
        assert_eq!(
            w.window(Time(3 * 3_600_000)).map(|(s, _)| s),
            Some(Time(26 * 3_600_000))
        );
        assert_eq!(window(&mw("", "", ""), Time(0)).expect("none"), None);
    }

    #[test]
    fn invalid_or_lapsed_is_400() {
        for (s, d, tz) in [
            ("0 0 2 * * *", "00:10:00", "+00:00"),
            ("0 0 2 * *", "00:10:00", "+00:00"),
            ("0 0 2 * * ?", "10 minutes", "+00:00"),
            ("0 0 2 * * ?", "00:10:00", "CET"),
            ("0 0 2 31 2 ?", "00:10:00", "+00:00"),
            ("0 0 2 1 1 ? 1969", "00:10:00", "+00:00"),
            ("0 0 2 * * ?", "", "+00:00"),
        ] {
            let r = window(&mw(s, d, tz), Time(0)).expect_err(s);
            assert_eq!(r.status, 400, "{s} {d} {tz}");
        }
        // Past its only occurrence at assignment time: hawkBit refuses it.
        let once = mw("0 0 1 1 1 ? 1970", "00:10:00", "+00:00");
        assert_eq!(
            window(&once, Time(2 * 3_600_000))
                .map(|_| ())
                .map_err(|r| r.status),
            Err(400)
        );
    }
}
