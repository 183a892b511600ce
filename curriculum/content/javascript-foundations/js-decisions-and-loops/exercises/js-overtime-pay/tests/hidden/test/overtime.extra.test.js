import { expect } from "chai";
import { weeklyPay, isFullTime, shiftType } from "../overtime.js";

describe("warehouse rules, more cases", () => {
  it("pays a week with half an hour of overtime", () => {
    expect(weeklyPay(40.5, 10)).to.equal(407.5);
  });

  it("pays nothing for no hours", () => {
    expect(weeklyPay(0, 25)).to.equal(0);
  });

  it("handles the smallest full-time week", () => {
    expect(isFullTime(35)).to.equal(true);
  });

  it("handles a shift starting at noon", () => {
    expect(shiftType(12)).to.equal("afternoon");
  });

  it("handles a shift starting at six in the evening", () => {
    expect(shiftType(18)).to.equal("night");
  });
});
