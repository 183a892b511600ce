// Press Run (or type: node index.js) for a season summary.
import { average, bestGame, wins, longestWinStreak } from "./stats.js";

const ours = [78, 65, 90, 70, 88, 92, 61, 84];
const theirs = [70, 72, 85, 70, 80, 79, 75, 81];

console.log(`Games played:    ${ours.length}`);
console.log(`Wins:            ${wins(ours, theirs)}`);
console.log(`Average scored:  ${average(ours)}`);
console.log(`Average against: ${average(theirs)}`);
console.log(`Best game:       game ${bestGame(ours)}`);
console.log(`Longest streak:  ${longestWinStreak(ours, theirs)} wins`);
