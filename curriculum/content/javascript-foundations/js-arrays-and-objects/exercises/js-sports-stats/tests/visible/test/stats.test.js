import { expect } from "chai";
import { average, bestGame, wins, longestWinStreak } from "../stats.js";

describe("average", () => {
  it("works out the average of four scores", () => {
    expect(average([78, 65, 90, 71])).to.equal(76);
  });

  it("gives 0 for a season with no games", () => {
    expect(average([])).to.equal(0);
  });
});

describe("bestGame", () => {
  it("gives the game number of the highest score", () => {
    expect(bestGame([78, 65, 90, 70])).to.equal(3);
  });
});

describe("wins", () => {
  it("counts the games where we scored more", () => {
    expect(wins([78, 65, 90, 70], [70, 72, 85, 70])).to.equal(2);
  });
});

describe("longestWinStreak", () => {
  it("finds three wins in a row", () => {
    expect(longestWinStreak([80, 81, 60, 90, 91, 92], [70, 70, 70, 80, 80, 80])).to.equal(3);
  });
});
