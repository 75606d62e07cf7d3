DELETE FROM close_reasons c
WHERE c.name IN ('Вопрос решён', 'Оформлен заказ', 'Клиент передумал', 'Спам или реклама',
                 'Ошибочное обращение')
  AND NOT EXISTS (SELECT 1 FROM dialogs d WHERE d.close_reason_id = c.id);
