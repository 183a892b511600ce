// Starts the web server. Press Run (or type: node server.js), then in a second terminal:
//   curl -i http://localhost:3000/menu
// Stop the server with Ctrl+C.
import http from "node:http";
import { app } from "./app.js";

const port = process.env.PORT ?? 3000;
const server = http.createServer(app);
server.listen(port, () => {
  console.log(`The menu server is listening on http://localhost:${server.address().port}`);
});
