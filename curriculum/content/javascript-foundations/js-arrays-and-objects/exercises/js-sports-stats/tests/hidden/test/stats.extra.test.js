import { expect } from "chai";
import { average, bestGame, wins, longestWinStreak } from "../stats.js";

describe("season statistics, more cases", () => {
  it("gives a decimal average when it does not divide evenly", () => {
    expect(average([70, 71])).to.equal(70.5);
  });

  it("gives the earlier game when two games share the best score", () => {
    expect(bestGame([90, 60, 90])).to.equal(1);
  });

  it("gives the right game when the best score is in the first game", () => {
    expect(bestGame([100, 60, 70])).to.equal(1);
  });

  it("has no best game in an empty season", () => {
    expect(bestGame([])).to.equal(0);
  });

  it("finds a streak at the end of the season", () => {
    expect(longestWinStreak([80, 60, 90, 91], [70, 70, 80, 80])).to.equal(2);
  });

  it("finds no streak in a season without wins", () => {
    expect(longestWinStreak([60, 70], [60, 80])).to.equal(0);
  });
});
