import { expect } from "chai";
import { totalHours, daysWorked, longestDay, payByDay } from "../schedule.js";

describe("weekly schedule, more cases", () => {
  it("has no hours in an empty schedule", () => {
    expect(totalHours({})).to.equal(0);
  });

  it("has no longest day in an empty schedule", () => {
    expect(longestDay({})).to.equal(undefined);
  });

  it("gives the first day when two days share the most hours", () => {
    expect(longestDay({ sunday: 5, monday: 10, friday: 10 })).to.equal("monday");
  });

  it("does not change the schedule it was given when working out pay", () => {
    const week = { saturday: 4, sunday: 6 };
    expect(payByDay(week, 20)).to.deep.equal({ saturday: 80, sunday: 120 });
    expect(week).to.deep.equal({ saturday: 4, sunday: 6 });
  });
});
