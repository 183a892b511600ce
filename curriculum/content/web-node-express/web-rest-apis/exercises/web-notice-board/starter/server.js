// Starts the web server. Press Run (or type: node server.js), then in a second terminal try:
//   curl -i http://localhost:3000/notices
// Stop the server with Ctrl+C, and start it again after you change app.js.
import { app } from "./app.js";

const port = process.env.PORT ?? 3000;
const server = app.listen(port, () => {
  console.log(`Listening on http://localhost:${server.address().port}`);
});
