-- A demo account's channel is simulated by the server itself (`demo::Simulator`, on
-- loopback): only such accounts may ever reach the simulator.
ALTER TABLE channel_accounts ADD COLUMN demo BOOLEAN NOT NULL DEFAULT false;
